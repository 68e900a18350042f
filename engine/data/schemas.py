"""Table schemas shared by ingest, the synthetic world, the store and the models.

Each table is a tuple of :class:`Column`. Frames handed to the store must carry exactly
these columns (extra columns are an error, missing nullable ones are filled with nulls).
Logical types: ``str``, ``int``, ``float``, ``bool``, ``date``, ``timestamp``.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.config import CHANNELS

#: Interaction outcomes, weakest to strongest. ``engaged`` means outcome beyond "delivered".
OUTCOMES: tuple[str, ...] = ("delivered", "opened", "clicked", "attended")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    doc: str = ""


def _consents():
    return tuple(Column(f"consent_{c}", "bool", nullable=False, doc=f"HCP agreed to {c} contact") for c in CHANNELS)


TABLES: dict[str, tuple[Column, ...]] = {
    "hcps": (
        Column("hcp_id", "str", nullable=False, primary_key=True, doc="10-digit NPI"),
        Column("first_name", "str"),
        Column("last_name", "str", nullable=False),
        Column("credential", "str"),
        Column("taxonomy_code", "str", doc="NUCC taxonomy code"),
        Column("specialty", "str", nullable=False),
        Column("city", "str"),
        Column("state", "str"),
        Column("zip", "str"),
        Column("territory", "str"),
        Column("segment", "str", doc="brand segment, e.g. 'High value'"),
        *_consents(),
    ),
    "contents": (
        Column("content_id", "str", nullable=False, primary_key=True),
        Column("pmid", "str"),
        Column("title", "str", nullable=False),
        Column("abstract", "str"),
        Column("therapeutic_area", "str"),
        Column("publication_date", "date"),
        Column("approval_start", "date"),
        Column("approval_end", "date"),
    ),
    "campaigns": (
        Column("campaign_id", "str", nullable=False, primary_key=True),
        Column("channel", "str", nullable=False),
        Column("content_id", "str", nullable=False),
        Column("start_date", "date"),
        Column("end_date", "date"),
        Column("target_specialty", "str"),
    ),
    "interactions": (
        Column("interaction_id", "int", nullable=False, primary_key=True),
        Column("hcp_id", "str", nullable=False),
        Column("content_id", "str", nullable=False),
        Column("campaign_id", "str"),
        Column("channel", "str", nullable=False),
        Column("timestamp", "timestamp", nullable=False),
        Column("outcome", "str", nullable=False, doc="one of OUTCOMES"),
        Column("engaged", "bool", nullable=False, doc="outcome beyond 'delivered'"),
        Column("dwell_seconds", "float"),
        Column("converted", "bool"),
    ),
    "patients": (
        Column("patient_id", "str", nullable=False, primary_key=True),
        Column("hcp_id", "str", nullable=False),
        Column("birthdate", "date"),
        Column("gender", "str"),
        Column("state", "str"),
        Column("assigned_specialty", "str"),
    ),
    "feedback": (
        Column("feedback_id", "int", nullable=False, primary_key=True),
        Column("hcp_id", "str", nullable=False),
        Column("content_id", "str", nullable=False),
        Column("channel", "str"),
        Column("action", "str", nullable=False, doc="accept | dismiss"),
        Column("reason", "str"),
        Column("user_name", "str"),
        Column("bundle_version", "str"),
        Column("created_at", "timestamp", nullable=False),
    ),
    "audit_log": (
        Column("audit_id", "int", nullable=False, primary_key=True),
        Column("at", "timestamp", nullable=False),
        Column("user_name", "str"),
        Column("action", "str", nullable=False),
        Column("from_version", "str"),
        Column("to_version", "str"),
        Column("result", "str", nullable=False),
        Column("detail", "str"),
    ),
    "recommendations": (
        Column("hcp_id", "str", nullable=False),
        Column("rank", "int", nullable=False),
        Column("content_id", "str", nullable=False),
        Column("channel", "str", nullable=False),
        Column("score", "float", nullable=False),
        Column("engagement_probability", "float", nullable=False),
        Column("bundle_version", "str", nullable=False),
    ),
    "meta": (
        Column("key", "str", nullable=False, primary_key=True),
        Column("value", "str"),
    ),
}

assert set(CHANNELS) == {"email", "webinar", "rep_visit", "in_person", "social_event"}


def column_names(table: str) -> list[str]:
    return [c.name for c in TABLES[table]]


def normalize_channel(value: str) -> str:
    """Map spellings seen in exports ('in-person', 'Social Event', 'rep visit') to :data:`CHANNELS`."""
    key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    return key
