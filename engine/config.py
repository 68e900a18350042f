"""One settings object, read from the environment (Procfile-platform conventions).

Every part of the product (CLI, service, web app, tests) takes a :class:`Settings`;
nothing else reads ``os.environ`` directly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

@dataclass(frozen=True)
class Channel:
    """What the platform knows of a channel (one row of :data:`CHANNEL_TABLE`).

    Attributes
    ----------
    label : how every screen and every reason names it.
    nouns : (one, many) as a sentence says it ("an email", "emails").
    cap : default contact cap: at most this many touches per ``cap_days`` days.
    cost : default cost of one touch, in engagement-probability points: a plan step's value is
        P(engage) - COST_WEIGHT * cost, so an expensive rep visit must earn its place.
    worklist : default actions a day of a territory's worklist holds (a rep visits about eight HCPs a day).
    """

    label: str
    nouns: tuple[str, str]
    cap: int
    cost: float
    worklist: int


#: Every channel, in the fixed order every array indexed by channel uses. Adding a channel is
#: one row here (see docs/EXTENDING.md).
CHANNEL_TABLE: dict[str, Channel] = {
    "email": Channel("Email", ("an email", "emails"), cap=4, cost=0.0, worklist=40),
    "webinar": Channel("Webinar", ("a webinar", "webinars"), cap=2, cost=0.02, worklist=15),
    "rep_visit": Channel("Rep visit", ("a rep visit", "rep visits"), cap=2, cost=0.08, worklist=8),
    "in_person": Channel("In person", ("an in-person meeting", "in-person meetings"), cap=1, cost=0.10, worklist=4),
    "social_event": Channel("Social event", ("a social event", "social events"), cap=1, cost=0.03, worklist=6),
}

CHANNELS: tuple[str, ...] = tuple(CHANNEL_TABLE)
CHANNEL_LABELS: dict[str, str] = {name: c.label for name, c in CHANNEL_TABLE.items()}
DEFAULT_CAPS: dict[str, int] = {name: c.cap for name, c in CHANNEL_TABLE.items()}
DEFAULT_COSTS: dict[str, float] = {name: c.cost for name, c in CHANNEL_TABLE.items()}
DEFAULT_WORKLIST_CAPACITY: dict[str, int] = {name: c.worklist for name, c in CHANNEL_TABLE.items()}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, str(channel).replace("_", " ").capitalize())


def _default_database_url() -> str:
    return f"duckdb:///{PROJECT_ROOT / 'var' / 'nba.duckdb'}"


def _parse_channel_values(text: str | None, defaults: dict, variable: str, cast=int) -> dict:
    """Parse ``email=4,webinar=2`` into a per-channel dict over ``defaults`` (``cast`` each value)."""
    values = dict(defaults)
    if not text:
        return values
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        try:
            number = cast(value.strip())
        except ValueError:
            number = None
        if name not in CHANNELS or number is None or number < 0:
            raise ValueError(f"{variable}: bad entry {part!r} (expected channel={cast.__name__} >= 0, "
                             f"channels: {', '.join(CHANNELS)})")
        values[name] = number
    return values


def _parse_caps(text: str | None) -> dict[str, int]:
    """Parse ``email=4,webinar=2`` into a caps dict over the defaults."""
    return _parse_channel_values(text, DEFAULT_CAPS, "CONTACT_CAPS")


def parse_as_of(text: str | None):
    """``AS_OF`` -> the day rules and plans reason at: a ``pd.Timestamp`` (midnight), ``"now"`` for the
    real clock, or None when unset (the store's demo date if ``generate`` recorded one, else the clock).

    Raises
    ------
    ValueError : not a date, ``now`` or empty.
    """
    import pandas as pd

    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text.lower() == "now":
        return "now"
    try:
        return pd.Timestamp(text).normalize()
    except ValueError as exc:
        raise ValueError(f"AS_OF: {text!r} is not a date (expected YYYY-MM-DD or 'now')") from exc


def _parse_share(name: str, text: str | None, default: float) -> float:
    """A share in [0, 1] (``0.5``), or ``default`` when unset."""
    if not text:
        return default
    try:
        share = float(text)
    except ValueError:
        share = float("nan")
    if not 0 <= share <= 1:
        raise ValueError(f"{name}: expected a share between 0 and 1 (got {text!r})")
    return share


@dataclass(frozen=True)
class Settings:
    """Runtime configuration.

    Attributes
    ----------
    database_url : ``duckdb:///path`` (embedded default) or ``postgresql://...``.
    redis_url : Redis for cache and the shared bundle pointer; ``None`` -> filesystem cache.
    artifacts_dir : where versioned model bundles live (``<dir>/<version>/``, ``<dir>/current``).
    cache_dir : filesystem cache directory, shared by all workers on one machine.
    var_dir : this host's state shared by its workers (generated session key, sign-in limits and
        sessions when no Redis is configured).
    secret_key : Flask session key; ``None``: a random key generated once per host under ``var_dir``
        (refused in production, see :mod:`webapp.secret_key`).
    port : HTTP port for gunicorn.
    seed_dir : the read-only reference data (``../shared/data/seed``), when present.
    users_file : JSON file of users ``{"name": {"role": ..., "password_hash": ...}}``.
    contact_caps, cap_days : contact-frequency caps per channel per period.
    bundle_signing_key : HMAC key of bundle manifests; when set, bundles are signed at train
        time and unsigned or wrongly signed bundles are refused (``None``: signing off).
    ingest_max_shrink : the largest share of a table's rows a replacing ingest may drop
        without ``--allow-shrink`` (an empty file is always refused against a non-empty table).
    as_of : the day rules and plans reason at (see :func:`parse_as_of`): a date, ``"now"`` or None.
    channel_costs, cost_weight : cost of a touch per channel and its weight λ (value = P - λ·cost).
    plan_horizon_days, plan_max_steps : default length of a plan.
    dismiss_days : how long a dismissed content is not suggested again to that HCP.
    snooze_days : how long a snoozed action waits before it is suggested again.
    worklist_capacity : most worklist actions per channel per day.
    data_check_s : how often each process checks the store's data and feedback versions.
    """

    database_url: str = field(default_factory=_default_database_url)
    redis_url: str | None = None
    artifacts_dir: Path = PROJECT_ROOT / "artifacts"
    cache_dir: Path = PROJECT_ROOT / "var" / "cache"
    var_dir: Path = PROJECT_ROOT / "var"
    secret_key: str | None = None
    port: int = 8050
    seed_dir: Path = PROJECT_ROOT.parent / "shared" / "data" / "seed"
    users_file: Path | None = None
    contact_caps: dict = field(default_factory=lambda: dict(DEFAULT_CAPS))
    cap_days: int = 30
    cache_timeout: int = 600
    bundle_signing_key: str | None = field(default=None, repr=False)
    ingest_max_shrink: float = 0.5
    as_of: object = None
    channel_costs: dict = field(default_factory=lambda: dict(DEFAULT_COSTS))
    cost_weight: float = 1.0
    plan_horizon_days: int = 90
    plan_max_steps: int = 8
    dismiss_days: int = 90
    data_check_s: float = 1.0
    snooze_days: int = 7
    worklist_capacity: dict = field(default_factory=lambda: dict(DEFAULT_WORKLIST_CAPACITY))

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        base = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or base.database_url,
            redis_url=env.get("REDIS_URL") or None,
            artifacts_dir=Path(env.get("ARTIFACTS_DIR") or base.artifacts_dir),
            cache_dir=Path(env.get("CACHE_DIR") or base.cache_dir),
            var_dir=Path(env.get("VAR_DIR") or base.var_dir),
            secret_key=env.get("SECRET_KEY") or None,
            port=int(env.get("PORT") or base.port),
            seed_dir=Path(env.get("SEED_DIR") or base.seed_dir),
            users_file=Path(env["USERS_FILE"]) if env.get("USERS_FILE") else None,
            contact_caps=_parse_caps(env.get("CONTACT_CAPS")),
            cap_days=int(env.get("CAP_DAYS") or base.cap_days),
            cache_timeout=int(env.get("CACHE_TIMEOUT") or base.cache_timeout),
            bundle_signing_key=env.get("BUNDLE_SIGNING_KEY") or None,
            ingest_max_shrink=_parse_share("INGEST_MAX_SHRINK", env.get("INGEST_MAX_SHRINK"), base.ingest_max_shrink),
            as_of=parse_as_of(env.get("AS_OF")),
            channel_costs=_parse_channel_values(env.get("CHANNEL_COSTS"), DEFAULT_COSTS, "CHANNEL_COSTS", float),
            cost_weight=float(env.get("COST_WEIGHT") or base.cost_weight),
            plan_horizon_days=int(env.get("PLAN_HORIZON_DAYS") or base.plan_horizon_days),
            plan_max_steps=int(env.get("PLAN_MAX_STEPS") or base.plan_max_steps),
            dismiss_days=int(env.get("DISMISS_DAYS") or base.dismiss_days),
            data_check_s=float(env.get("DATA_CHECK_S") or base.data_check_s),
            snooze_days=int(env.get("SNOOZE_DAYS") or base.snooze_days),
            worklist_capacity=_parse_channel_values(env.get("WORKLIST_CAPACITY"), DEFAULT_WORKLIST_CAPACITY,
                                                    "WORKLIST_CAPACITY"),
        )

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed (tests use this for temporary dirs)."""
        return replace(self, **changes)
