"""A territory's worklist: the day's suggested actions, best first, within what a day can hold.

Pure functions over frames, so the rule has one home and is tested alone: the service gathers the
candidates (each HCP's next best action, or the plans' steps of a week) and the answers already
given, then :func:`fill_days` keeps, day by day and best value first, at most the day's capacity
per channel (``{"rep_visit": 8, ...}``: a rep visits eight HCPs a day; a channel not named has no
limit). Touches already accepted for a day take their place in its capacity first.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns a candidate frame carries (``date`` optional: all candidates are for one day without it).
CANDIDATE_COLUMNS = ("hcp_id", "content_id", "channel", "engagement_probability", "value")


def fill_days(candidates: pd.DataFrame, capacity: dict[str, int], taken: pd.DataFrame | None = None) -> pd.DataFrame:
    """The candidates each day can hold, best value first.

    Parameters
    ----------
    candidates : :data:`CANDIDATE_COLUMNS` (+ ``date``, + anything else, carried along).
    capacity : most actions per channel per day (a channel not named: no limit).
    taken : ``date, channel`` of touches already accepted for those days (they use capacity first).

    Returns
    -------
    The kept candidates, sorted by date then value (best first, ties by HCP and content), with
    ``rank`` (1.. within each day).
    """
    frame = candidates.copy()
    if "date" not in frame:
        frame["date"] = ""
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype=np.int64))
    frame = frame.sort_values(["date", "value", "hcp_id", "content_id"], ascending=[True, False, True, True],
                              kind="stable").reset_index(drop=True)
    used = {}
    if taken is not None and len(taken):
        dates = taken["date"] if "date" in taken else pd.Series("", index=taken.index)
        for key, n in pd.Series(1, index=pd.MultiIndex.from_arrays([dates.astype(str), taken["channel"].astype(str)])
                                ).groupby(level=[0, 1]).sum().items():
            used[key] = int(n)
    # the n-th action of a channel on a day, counting the accepted ones first (plain object arrays:
    # iterating pyarrow-backed strings costs a Python object per cell)
    order = frame.groupby(["date", "channel"], sort=False).cumcount().to_numpy()
    dates, channels = frame["date"].astype(str).to_numpy(dtype=object), frame["channel"].astype(str).to_numpy(dtype=object)
    already = np.array([used.get(key, 0) for key in zip(dates, channels)], dtype=np.int64) if used else 0
    no_limit = np.iinfo(np.int64).max
    limit = np.array([capacity.get(c, no_limit) for c in channels], dtype=np.int64)
    kept = frame[order + already < limit].copy()
    kept["rank"] = kept.groupby("date", sort=False).cumcount().to_numpy() + 1
    return kept.reset_index(drop=True)
