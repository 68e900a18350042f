"""Training data and held-out splits shared by every model, baseline and the evaluation.

``make_split`` turns the store's frames into a :class:`TrainingData`: integer indices for HCPs,
contents and channels, a train / validation / test split under one of two protocols, and the
business rules (approval window, consent, no repeat of consumed content) as a vectorised mask.

Protocols
---------
``temporal`` (default)
    Everything before ``valid_cutoff`` is train, ``[valid_cutoff, cutoff)`` validation and
    ``[cutoff, cutoff + holdout_days)`` test. The ranking target of an HCP is the set of contents
    it engaged with in the test window.
``loo-sampled100``
    Leave-one-out as published sequential recommenders do: for every HCP with at least three
    distinct engaged contents (and 100 never-touched ones), the last newly engaged content is the
    test item, the one before it opens validation, the earlier touches are train. Each test item comes with 100 negatives
    sampled (seeded) among contents the HCP never touched.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.data.schemas import OUTCOMES
from engine.progress import QUIET
from engine.rules.approval import ApprovalCalendar

PROTOCOLS: tuple[str, ...] = ("temporal", "loo-sampled100")
LOO_NEGATIVES = 100
LOO_MIN_ENGAGED = 3

_TABLES = ("hcps", "contents", "interactions", "campaigns", "feedback")


def load_frames(store, progress=QUIET) -> dict[str, pd.DataFrame]:
    """Read the tables the models need from a :class:`engine.data.store.Store` (feedback included:
    :func:`make_split` turns dismissals into training examples); the interactions in batches, with
    their ids and names as categoricals (:meth:`~engine.data.store.Store.read_compact`)."""
    frames = {}
    for table in _TABLES:
        frames[table] = store.read_compact(table) if table == "interactions" else store.read(table)
        progress("data", f"read {table}: {len(frames[table]):,} rows")
    return frames


def load_oracle(artifacts_dir: Path | str):
    """The synthetic world's oracle from ``<artifacts_dir>/world/truth.npz``, or ``None``.

    ``None`` when the file is absent (real data) — evaluation then simply has no ceiling.
    """
    path = Path(artifacts_dir) / "world" / "truth.npz"
    if not path.exists():
        return None
    from engine.synth import World

    return World.load_truth(path)


def truth_fingerprint(artifacts_dir: Path | str) -> str | None:
    """A short sha256 of the world truth files :func:`load_oracle` reads, or ``None`` without them.

    A bundle records it so that a later evaluation uses the oracle only if it is the same world's.
    """
    folder = Path(artifacts_dir) / "world"
    files = [folder / "truth.npz", folder / "truth.json"]
    if not all(path.is_file() for path in files):
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class RecordedFrames:
    """The frames a bundle was trained on, kept in the bundle as Parquet files.

    ``evaluate`` rebuilds the training split from them, so it neither reads the store nor
    depends on what the store holds now (a plain log trained with ``--interactions`` never was
    in the store). Written by :meth:`save` into a bundle component directory; :meth:`load` only
    remembers the directory: serving loads every component and never needs the frames.
    """

    def __init__(self, frames: dict[str, pd.DataFrame | None]):
        self._frames = {name: frames.get(name) for name in _TABLES}
        self._path: Path | None = None

    def frames(self) -> dict[str, pd.DataFrame | None]:
        """``{table: frame or None}`` for ``hcps``, ``contents``, ``interactions``, ``campaigns``, ``feedback``."""
        if self._path is not None:
            from engine.data.store import conform

            return {name: conform(name, pd.read_parquet(self._path / f"{name}.parquet"))
                    if (self._path / f"{name}.parquet").is_file() else None for name in _TABLES}
        return dict(self._frames)

    def save(self, path) -> None:
        for name, frame in self.frames().items():
            if frame is not None:
                frame.to_parquet(Path(path) / f"{name}.parquet", index=False, compression="zstd")

    @classmethod
    def load(cls, path) -> "RecordedFrames":
        recorded = cls({})
        recorded._path = Path(path)
        return recorded


def _fingerprint(hcp_ids: np.ndarray, content_ids: np.ndarray, interactions: pd.DataFrame) -> str:
    """A short sha256 of the HCPs, contents and interactions a split is built from.

    Two stores with the same fingerprint give the same split for the same parameters.
    """
    digest = hashlib.sha256()
    for ids in (hcp_ids, content_ids):
        digest.update("\x1f".join(ids.tolist()).encode())
        digest.update(b"\x1e")
    rows = interactions.sort_values("interaction_id", kind="stable")
    for col in ("interaction_id", "hcp_idx", "content_idx", "channel_idx", "timestamp", "engaged"):
        digest.update(np.ascontiguousarray(rows[col].to_numpy()).tobytes())
    return digest.hexdigest()[:16]


class _RowsByHcp:
    """Compressed rows (CSR-like) of (content, time) pairs grouped by HCP, for fast batch lookups."""

    def __init__(self, hcp_idx: np.ndarray, content_idx: np.ndarray, times: np.ndarray, n_hcps: int):
        order = np.lexsort((times, hcp_idx))
        self.content = content_idx[order]
        self.time = times[order]
        self.indptr = np.zeros(n_hcps + 1, dtype=np.int64)
        np.cumsum(np.bincount(hcp_idx, minlength=n_hcps), out=self.indptr[1:])

    def gather(self, hcp_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in the batch, position in the arrays) of every pair of the HCPs in ``hcp_idx``."""
        starts = self.indptr[hcp_idx]
        lengths = self.indptr[hcp_idx + 1] - starts
        rows = np.repeat(np.arange(len(hcp_idx)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows, np.repeat(starts, lengths) + offsets

    def mask(self, hcp_idx: np.ndarray, n_contents: int, before=None) -> np.ndarray:
        """Boolean ``[len(hcp_idx), n_contents]``: the HCP has a pair (strictly before ``before``)."""
        rows, pos = self.gather(hcp_idx)
        if before is not None:
            keep = self.time[pos] < before
            rows, pos = rows[keep], pos[keep]
        out = np.zeros((len(hcp_idx), n_contents), dtype=bool)
        out[rows, self.content[pos]] = True
        return out


@dataclass
class TrainingData:
    """Indexed frames and split of one training run; see :func:`make_split`.

    Every array is indexed by ``hcp_ids`` (rows) and ``content_ids`` (columns); channels follow
    :data:`engine.config.CHANNELS`. ``train``, ``valid`` and ``test`` are interaction frames with
    extra int columns ``hcp_idx``, ``content_idx``, ``channel_idx``, sorted by time.
    """

    protocol: str
    cutoff: pd.Timestamp
    valid_cutoff: pd.Timestamp
    hcp_ids: np.ndarray
    content_ids: np.ndarray
    hcps: pd.DataFrame
    contents: pd.DataFrame
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    content_text: list[str]
    parameters: dict
    fingerprint: str
    campaigns: pd.DataFrame | None = None
    test_negatives: np.ndarray | None = None
    content_topics: np.ndarray | None = None
    consent: np.ndarray = field(default=None, repr=False)
    _history_engaged: _RowsByHcp = field(default=None, repr=False)
    _all_engaged: _RowsByHcp = field(default=None, repr=False)

    @property
    def n_hcps(self) -> int:
        return len(self.hcp_ids)

    @property
    def n_contents(self) -> int:
        return len(self.content_ids)

    @property
    def n_channels(self) -> int:
        return len(CHANNELS)

    @cached_property
    def history(self) -> pd.DataFrame:
        """Every interaction a model may see when scoring at the cutoff (train + validation), by time."""
        return pd.concat([self.train, self.valid], ignore_index=True).sort_values("timestamp", kind="stable")

    def engaged_mask(self, hcp_idx) -> np.ndarray:
        """Boolean ``[n, n_contents]``: the HCP engaged with the content in train or validation.

        Evaluation removes these from every model's ranking (no repeat of consumed content).
        """
        return self._history_engaged.mask(np.asarray(hcp_idx, dtype=np.int64), self.n_contents)

    @cached_property
    def calendar(self) -> ApprovalCalendar:
        """The contents' :class:`engine.rules.approval.ApprovalCalendar` (index order)."""
        return ApprovalCalendar.from_contents(self.contents)

    def approved(self, at) -> np.ndarray:
        """Boolean ``[n_contents]``: the content is approved (and published) on ``at``'s day."""
        return self.calendar.approved(pd.Timestamp(at))

    def eligible(self, hcp_idx, at=None) -> np.ndarray:
        """Boolean ``[n, n_contents, n_channels]`` of the (content, channel) pairs the rules allow.

        A pair is eligible at ``at`` (default: the cutoff) when the content is inside its approval
        window, the HCP consented to the channel and has not engaged with the content before ``at``.
        """
        at = self.cutoff if at is None else pd.Timestamp(at)
        hcp_idx = np.asarray(hcp_idx, dtype=np.int64)
        consumed = self._all_engaged.mask(hcp_idx, self.n_contents, before=np.datetime64(at, "us"))
        allowed = self.approved(at)[None, :] & ~consumed
        return allowed[:, :, None] & self.consent[hcp_idx][:, None, :]

    def split_parameters(self) -> dict:
        """What ``make_split`` needs to rebuild exactly this split (record it in the bundle)."""
        return dict(self.parameters)


def _index(frame: pd.DataFrame, column: str, ids: np.ndarray, table: str) -> np.ndarray:
    # Factorize first: looking up the few distinct values is much faster than every row.
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=False)
    idx = pd.Index(ids).get_indexer(pd.Index(uniques).astype(str))[codes]
    if (idx < 0).any():
        bad = frame.loc[idx < 0, column]
        raise ValueError(f"interactions: {len(bad):,} row(s) have a {column} not in the {table} table "
                         f"(first: {bad.iloc[0]!r} at row {int(np.flatnonzero(idx < 0)[0])})")
    return idx.astype(np.int32)


#: Columns of the split's frames (what the models and the evaluation read), in compact dtypes.
SPLIT_COLUMNS = ("interaction_id", "hcp_idx", "content_idx", "channel_idx", "timestamp", "outcome", "engaged")


def _indexed_interactions(interactions: pd.DataFrame, hcp_ids, content_ids) -> pd.DataFrame:
    """The interactions as :data:`SPLIT_COLUMNS`, sorted by (time, id): int32 indices, int8 channel,
    outcome a categorical of :data:`~engine.data.schemas.OUTCOMES` (unknown spellings missing)."""
    frame = pd.DataFrame({"interaction_id": interactions["interaction_id"].to_numpy(np.int64),
                          "hcp_idx": _index(interactions, "hcp_id", hcp_ids, "hcps"),
                          "content_idx": _index(interactions, "content_id", content_ids, "contents")})
    codes, uniques = pd.factorize(interactions["channel"], use_na_sentinel=False)
    known = pd.Index(CHANNELS).get_indexer(pd.Index(uniques).astype(str))
    if (known < 0).any():
        bad = str(uniques[int(np.flatnonzero(known < 0)[0])])
        row = int(np.flatnonzero(known[codes] < 0)[0])
        raise ValueError(f"interactions: column 'channel' has {bad!r} at row {row}; "
                         f"expected one of {', '.join(CHANNELS)}")
    frame["channel_idx"] = known[codes].astype(np.int8)
    frame["timestamp"] = pd.to_datetime(interactions["timestamp"]).astype("datetime64[us]").to_numpy()
    codes, uniques = pd.factorize(interactions["outcome"])
    known = pd.Index(OUTCOMES).get_indexer(pd.Index(uniques).astype(str))
    frame["outcome"] = pd.Categorical.from_codes(np.where(codes < 0, -1, known[codes]), categories=OUTCOMES)
    frame["engaged"] = interactions["engaged"].fillna(False).astype(bool).to_numpy()
    return frame.sort_values(["timestamp", "interaction_id"], kind="stable").reset_index(drop=True)


def feedback_examples(feedback: pd.DataFrame | None, hcp_ids, content_ids, at, first_id: int) -> pd.DataFrame:
    """Dismissed recommendations as training touches that did not engage.

    A field user dismissing an item for an HCP is evidence that the HCP would not engage with it:
    each dismissal (its latest answer per HCP, content and channel) becomes a ``delivered``,
    non-engaged touch on the item's channel, dated at the answer's as-of day or ``at`` if earlier
    (training examples never enter the evaluation windows), with ids from ``first_id`` on.
    Accepts add nothing: an accepted touch, once made, is ingested with its real outcome.
    """
    columns = ["interaction_id", "hcp_id", "content_id", "campaign_id", "channel", "timestamp", "outcome",
               "engaged", "dwell_seconds", "converted"]
    if feedback is None or feedback.empty:
        return pd.DataFrame(columns=columns)
    latest = feedback.sort_values(["created_at", "feedback_id"], kind="stable").drop_duplicates(
        ["hcp_id", "content_id", "channel"], keep="last")
    dismissed = latest[(latest["action"] == "dismiss") & latest["hcp_id"].astype(str).isin(set(hcp_ids))
                       & latest["content_id"].astype(str).isin(set(content_ids))
                       & latest["channel"].isin(CHANNELS)]
    when = pd.to_datetime(dismissed["as_of"]).fillna(pd.to_datetime(dismissed["created_at"]))
    limit = pd.Timestamp(at) - pd.Timedelta(seconds=1)
    return pd.DataFrame({
        "interaction_id": first_id + np.arange(len(dismissed)), "hcp_id": dismissed["hcp_id"].astype(str).to_numpy(),
        "content_id": dismissed["content_id"].astype(str).to_numpy(), "campaign_id": None,
        "channel": dismissed["channel"].astype(str).to_numpy(), "timestamp": when.where(when < limit, limit).to_numpy(),
        "outcome": "delivered", "engaged": False, "dwell_seconds": np.nan, "converted": None,
    }, columns=columns)


def _temporal(frame: pd.DataFrame, cutoff, holdout_days: int, valid_days: int):
    valid_cutoff = cutoff - pd.Timedelta(days=valid_days)
    end = cutoff + pd.Timedelta(days=holdout_days)
    ts = frame["timestamp"]
    train = frame[ts < valid_cutoff]
    valid = frame[(ts >= valid_cutoff) & (ts < cutoff)]
    test = frame[(ts >= cutoff) & (ts < end)]
    return train, valid, test, valid_cutoff


def _leave_one_out(frame: pd.DataFrame, n_contents: int):
    """Per HCP: last newly engaged content -> test, the one before opens validation.

    Only HCPs with enough distinct engaged contents and at least 100 never-touched contents
    (to sample negatives from) are held out; the others stay entirely in train.
    """
    touched = frame.drop_duplicates(["hcp_idx", "content_idx"]).groupby("hcp_idx").size()
    roomy = touched.index[touched <= n_contents - LOO_NEGATIVES]
    engaged = frame[frame["engaged"] & frame["hcp_idx"].isin(roomy)]
    firsts = engaged.drop_duplicates(["hcp_idx", "content_idx"], keep="first")
    rank_from_end = firsts.groupby("hcp_idx").cumcount(ascending=False)
    counts = firsts.groupby("hcp_idx")["content_idx"].transform("size")
    usable = counts >= LOO_MIN_ENGAGED
    test_rows = firsts[usable & (rank_from_end == 0)]
    valid_rows = firsts[usable & (rank_from_end == 1)]
    # The frame is sorted by (timestamp, interaction_id) with a fresh RangeIndex: comparing row
    # positions instead of times keeps ties exact.
    p_test = pd.Series(test_rows.index.to_numpy(), index=test_rows["hcp_idx"].to_numpy())
    p_valid = pd.Series(valid_rows.index.to_numpy(), index=valid_rows["hcp_idx"].to_numpy())
    hcp = frame["hcp_idx"]
    own_test = hcp.map(p_test).fillna(np.inf).to_numpy()
    own_valid = hcp.map(p_valid).fillna(np.inf).to_numpy()
    here = np.arange(len(frame))
    train = frame[here < own_valid]
    valid = frame[(here >= own_valid) & (here < own_test)]
    test = frame[here == own_test]
    return train, valid, test


def _sample_negatives(test: pd.DataFrame, touched: _RowsByHcp, n_contents: int, seed: int) -> np.ndarray:
    """[n_test, 100] content indices never touched by the test row's HCP (seeded, without repeats)."""
    rng = np.random.default_rng(seed)
    hcp_idx = test["hcp_idx"].to_numpy()
    negatives = np.empty((len(hcp_idx), LOO_NEGATIVES), dtype=np.int64)
    for start in range(0, len(hcp_idx), 1024):
        batch = hcp_idx[start:start + 1024]
        untouched = ~touched.mask(batch, n_contents)
        # Random keys, touched items pushed to the end: the first 100 are a uniform sample of the rest.
        keys = rng.random(untouched.shape) + (~untouched) * 2.0
        negatives[start:start + len(batch)] = np.argsort(keys, axis=1)[:, :LOO_NEGATIVES]
    return negatives


def make_split(frames: dict[str, pd.DataFrame], protocol: str = "temporal", holdout_days: int = 90,
               valid_days: int = 30, seed: int = 0, cutoff=None,
               progress=QUIET) -> TrainingData:
    """Index the frames and split the interactions under ``protocol``.

    Parameters
    ----------
    frames : ``hcps``, ``contents``, ``interactions`` (and optionally ``campaigns`` and ``feedback``:
        dismissals join train, see :func:`feedback_examples`) schema frames.
    protocol : ``"temporal"`` or ``"loo-sampled100"``.
    holdout_days, valid_days : temporal test and validation windows.
    seed : seeds the sampled negatives.
    cutoff : start of the test window; default ``holdout_days`` before the day after the last
        interaction. Pass the recorded cutoff to rebuild a bundle's split on a grown store.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is unknown; expected one of {', '.join(PROTOCOLS)}")
    if holdout_days <= 0 or valid_days <= 0:
        raise ValueError(f"holdout_days ({holdout_days}) and valid_days ({valid_days}) must be positive")
    for table in ("hcps", "contents", "interactions"):
        if table not in frames or frames[table] is None or frames[table].empty:
            raise ValueError(f"the {table} table is empty: run `python -m engine generate` or ingest data first")
    hcps = frames["hcps"].sort_values("hcp_id").reset_index(drop=True)
    contents = frames["contents"].sort_values("content_id").reset_index(drop=True)
    for table, frame, key in (("hcps", hcps, "hcp_id"), ("contents", contents, "content_id")):
        dup = frame[key].duplicated()
        if dup.any():
            raise ValueError(f"{table}: {key} {frame.loc[dup, key].iloc[0]!r} appears more than once")
    hcp_ids = hcps["hcp_id"].astype(str).to_numpy(dtype=str)
    content_ids = contents["content_id"].astype(str).to_numpy(dtype=str)
    for col in ("publication_date", "approval_start", "approval_end"):
        values = contents[col] if col in contents else pd.Series(pd.NaT, index=contents.index)
        contents[col] = pd.to_datetime(values).astype("datetime64[us]")
    interactions = _indexed_interactions(frames["interactions"], hcp_ids, content_ids)
    progress("data", f"{len(hcp_ids):,} HCPs, {len(content_ids):,} contents, {len(interactions):,} interactions")

    fingerprint = _fingerprint(hcp_ids, content_ids, interactions)
    last_day = interactions["timestamp"].max().normalize() + pd.Timedelta(days=1)
    test_negatives = None
    if protocol == "temporal":
        cutoff = last_day - pd.Timedelta(days=holdout_days) if cutoff is None else pd.Timestamp(cutoff)
        train, valid, test, valid_cutoff = _temporal(interactions, cutoff, holdout_days, valid_days)
        if train.empty or test.empty:
            raise ValueError(f"temporal split at {cutoff.date()} leaves an empty train or test set "
                             f"(interactions span {interactions['timestamp'].min()} .. {interactions['timestamp'].max()}); "
                             f"lower holdout_days ({holdout_days}) / valid_days ({valid_days})")
    else:
        cutoff = last_day if cutoff is None else pd.Timestamp(cutoff)
        interactions = interactions[interactions["timestamp"] < cutoff].reset_index(drop=True)
        valid_cutoff = cutoff
        train, valid, test = _leave_one_out(interactions, len(content_ids))
        if test.empty:
            raise ValueError(f"loo-sampled100: no HCP has {LOO_MIN_ENGAGED} distinct engaged contents and "
                             f"{LOO_NEGATIVES} never-touched ones (catalogue: {len(content_ids)} contents)")
        test = test.sort_values("hcp_idx", kind="stable")
        touched = _RowsByHcp(interactions["hcp_idx"].to_numpy(), interactions["content_idx"].to_numpy(),
                             interactions["timestamp"].to_numpy(), len(hcp_ids))
        test_negatives = _sample_negatives(test, touched, len(content_ids), seed)
    examples = feedback_examples(frames.get("feedback"), hcp_ids, content_ids, valid_cutoff,
                                 int(interactions["interaction_id"].max()) + 1)
    if len(examples):
        progress("data", f"feedback: {len(examples):,} dismissals added to train as non-engaged touches")
        train = pd.concat([train, _indexed_interactions(examples, hcp_ids, content_ids)]).sort_values(
            ["timestamp", "interaction_id"], kind="stable")
    train, valid, test = (f.reset_index(drop=True) for f in (train, valid, test))
    progress("data", f"{protocol} split at {cutoff.date()}: train {len(train):,}, valid {len(valid):,}, test {len(test):,}")

    history = pd.concat([train, valid])
    hist_eng = history[history["engaged"]]
    kept = pd.concat([history, test])
    all_eng = kept[kept["engaged"]]
    title = contents["title"].fillna("").astype(str)
    abstract = contents["abstract"].fillna("").astype(str) if "abstract" in contents else ""
    content_text = (title + " " + abstract).str.strip().tolist()
    consent = np.column_stack([hcps[f"consent_{c}"].fillna(False).to_numpy(dtype=bool) for c in CHANNELS])
    return TrainingData(
        protocol=protocol, cutoff=pd.Timestamp(cutoff), valid_cutoff=pd.Timestamp(valid_cutoff),
        hcp_ids=hcp_ids, content_ids=content_ids, hcps=hcps, contents=contents,
        train=train, valid=valid, test=test, content_text=content_text,
        parameters={"protocol": protocol, "holdout_days": int(holdout_days), "valid_days": int(valid_days),
                    "seed": int(seed), "cutoff": pd.Timestamp(cutoff).isoformat()},
        fingerprint=fingerprint, campaigns=frames.get("campaigns"),
        test_negatives=test_negatives, consent=consent,
        _history_engaged=_RowsByHcp(hist_eng["hcp_idx"].to_numpy(), hist_eng["content_idx"].to_numpy(),
                                    hist_eng["timestamp"].to_numpy(), len(hcp_ids)),
        _all_engaged=_RowsByHcp(all_eng["hcp_idx"].to_numpy(), all_eng["content_idx"].to_numpy(),
                                all_eng["timestamp"].to_numpy(), len(hcp_ids)),
    )
