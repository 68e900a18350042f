"""MovieLens-100K as the product's real input files: an NPPES HCP CSV, a PubMed content CSV and a
CRM interaction export, each in the format ``python -m engine ingest`` reads.

The input is the recbole copy of ml-100k (``fetch-movielens-100k DIR`` writes ``ml-100k.inter``,
``ml-100k.user``, ``ml-100k.item``: tab-separated, headers ``name:type``).

- Users become HCPs: a synthetic but valid NPI (``1`` + the user id on 8 digits + the Luhn check
  digit of the ``80840`` prefix, :func:`engine.data.ingest.npi_check_digit`), the occupation as the
  specialty (no taxonomy code: the reader keeps the file's own word), and city and state from the
  ZIP code where it is a known US one (the ``zipcodes`` package's offline table; others are left
  empty: Canadian postal codes, military APO codes, typos).
- Movies become contents: the title with its year as the title, the genres as the abstract (a
  sentence around them would put its words into every topic), the first genre as the topic,
  1 January of the release year as the publication date. A movie stays available once released: its approval window runs from the publication
  date to ``approved_until`` (the PubMed reader would otherwise close it two years later, before
  most 1997-1998 ratings of older films).
- Ratings become email touches: engaged when the rating is 4 or 5 (outcome ``opened``, else
  ``delivered``), at the rating's time.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import reference
from engine.data.ingest import npi_check_digit

#: Occupations written differently from their MovieLens token.
OCCUPATION_LABELS = {"none": "No occupation"}


def read_atomic(path) -> pd.DataFrame:
    """A recbole atomic file as strings, the ``:type`` suffixes stripped from the header."""
    frame = pd.read_csv(path, sep="\t", dtype=str, quoting=csv.QUOTE_NONE, keep_default_na=False)
    frame.columns = [name.split(":")[0] for name in frame.columns]
    return frame


def read_movielens(directory) -> dict[str, pd.DataFrame]:
    """``{"ratings", "users", "items"}`` frames of the ml-100k files in ``directory``."""
    directory = Path(directory)
    return {"ratings": read_atomic(directory / "ml-100k.inter"), "users": read_atomic(directory / "ml-100k.user"),
            "items": read_atomic(directory / "ml-100k.item")}


def user_npi(user_id) -> pd.Series:
    """The synthetic NPI of each MovieLens user id: ``1`` + the id on 8 digits + the check digit."""
    base = 100_000_000 + pd.Series(user_id).astype(np.int64).to_numpy()
    return pd.Series((base * 10 + npi_check_digit(base)).astype(str), index=pd.Series(user_id).index)


def content_id(item_id) -> pd.Series:
    return "ML" + pd.Series(item_id).astype(str)


def _city_state(zip_code: str) -> tuple[str, str]:
    """City and state of a US ZIP code; empty for others (and for military APO/FPO codes)."""
    import zipcodes

    if not re.fullmatch(r"[0-9]{5}", zip_code):
        return "", ""
    found = [z for z in zipcodes.matching(zip_code) if reference.state_code(z["state"])]
    return (found[0]["city"], found[0]["state"]) if found else ("", "")


def hcp_frame(users: pd.DataFrame) -> pd.DataFrame:
    """The NPPES CSV columns for the users (one row each)."""
    zips = users["zip_code"].str.strip()
    places = {z: _city_state(z) for z in zips.unique()}
    known = zips.map(lambda z: bool(places[z][1]))
    occupation = users["occupation"].str.strip().str.lower()
    return pd.DataFrame({
        "NPI": user_npi(users["user_id"]),
        "Entity Type Code": "1",
        "Provider Last Name (Legal Name)": "User " + users["user_id"],
        "Provider First Name": "MovieLens",
        "Provider Business Practice Location Address City Name": zips.map(lambda z: places[z][0]),
        "Provider Business Practice Location Address State Name": zips.map(lambda z: places[z][1]),
        "Provider Business Practice Location Address Postal Code": zips.where(known, ""),
        "Healthcare Provider Taxonomy Code_1": "",
        "Healthcare Provider Primary Taxonomy Switch_1": "",
        "specialty": occupation.map(lambda o: OCCUPATION_LABELS.get(o, o.capitalize())),
    })


def _release_year(year: str, title: str) -> int | None:
    """The item's year, else the ``(YYYY)`` its title ends with (recbole's copy misparses a few)."""
    if re.fullmatch(r"[0-9]{4}", year.strip()):
        return int(year)
    match = re.search(r"\(([0-9]{4})\)\s*$", title)
    return int(match.group(1)) if match else None


def content_frame(items: pd.DataFrame, approved_until: pd.Timestamp) -> pd.DataFrame:
    """The PubMed CSV columns for the movies (one row each)."""
    years = [_release_year(y, t) for y, t in zip(items["release_year"], items["movie_title"])]
    genres = items["class"].str.split()
    titles = [t if y is None or t.rstrip().endswith(f"({y})") else f"{t} ({y})"
              for t, y in zip(items["movie_title"].str.strip(), years)]
    return pd.DataFrame({
        "content_id": content_id(items["item_id"]),
        "Title": titles,
        "Abstract": genres.str.join(", "),
        "Topic": [g[0] if g else "" for g in genres],
        "PubDate": [f"{y}-01-01" if y else "" for y in years],
        "approval_end": approved_until.strftime("%Y-%m-%d"),
    })


def interaction_frame(ratings: pd.DataFrame) -> pd.DataFrame:
    """The CRM export columns for the ratings, in time order."""
    seconds = ratings["timestamp"].astype(float).astype(np.int64)
    engaged = ratings["rating"].astype(float) >= 4
    frame = pd.DataFrame({
        "hcp_id": user_npi(ratings["user_id"]),
        "content_id": content_id(ratings["item_id"]),
        "channel": "email",
        "timestamp": pd.to_datetime(seconds, unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "outcome": np.where(engaged, "opened", "delivered"),
        "engaged": np.where(engaged, "true", "false"),
        "_order": seconds,
    })
    frame = frame.sort_values(["_order", "hcp_id", "content_id"], kind="stable").drop(columns="_order")
    frame.insert(0, "interaction_id", np.arange(1, len(frame) + 1))
    return frame


def write_product_files(directory, out_dir) -> dict[str, Path]:
    """Convert the ml-100k files in ``directory`` into ``out_dir/{hcps,contents,interactions}.csv``."""
    frames = read_movielens(directory)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last = pd.to_datetime(frames["ratings"]["timestamp"].astype(float).max(), unit="s")
    written = {"hcps": hcp_frame(frames["users"]),
               "contents": content_frame(frames["items"], approved_until=last.normalize() + pd.DateOffset(years=1)),
               "interactions": interaction_frame(frames["ratings"])}
    paths = {}
    for kind, frame in written.items():
        paths[kind] = out_dir / f"{kind}.csv"
        frame.to_csv(paths[kind], index=False)
    return paths
