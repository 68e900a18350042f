"""How numbers, dates and durations read on every page ("29 Nov 2026 08:20 UTC", "7 min", "42%")."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

#: How each store dialect is named.
STORE_NAMES = {"duckdb": "DuckDB (embedded)", "postgresql": "PostgreSQL"}
#: How each cache backend is named.
CACHE_NAMES = {"redis": "Redis", "filesystem": "Files on this machine", "simple": "This process's memory",
               "null": "None"}


def _timestamp(value) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(stamp) else stamp


def when(value) -> str:
    """A moment: "29 Nov 2026 08:20 UTC" (naive values are UTC, as the store keeps them); "—" if none."""
    stamp = _timestamp(value)
    if stamp is None:
        return "—"
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%d %b %Y %H:%M UTC")


def day(value) -> str:
    """A date: "29 Nov 2026"; "—" if none."""
    stamp = _timestamp(value)
    return "—" if stamp is None else stamp.strftime("%d %b %Y")


def version_time(version: str | None) -> str:
    """A bundle version's creation time from its name (``20261129-082047-abcdef``), else the name."""
    try:
        return when(datetime.strptime(str(version)[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc))
    except ValueError:
        return str(version or "—")


def duration(seconds) -> str:
    """"45 s", "7 min", "2 h 5 min", "3 days 4 h"."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")


def percent(value, digits: int = 0) -> str:
    """0.4215 -> "42%" (``digits`` decimals); "—" if none."""
    return "—" if value is None else f"{float(value):.{digits}%}"


def count(value) -> str:
    """12345 -> "12,345"; "—" if none."""
    return "—" if value is None else f"{int(value):,}"


def signed_percent_points(value, digits: int = 1) -> str:
    """A change of a rate: 0.012 -> "+1.2 pts"."""
    return "—" if value is None else f"{float(value) * 100:+.{digits}f} pts"


def store_name(dialect: str | None) -> str:
    return STORE_NAMES.get(str(dialect), str(dialect or "—"))


def cache_name(backend: str | None) -> str:
    return CACHE_NAMES.get(str(backend).lower(), str(backend or "—").capitalize())
