"""Table schemas shared by ingest, the synthetic world, the store and the models.

Each table is a tuple of :class:`Column`. Frames handed to the store must carry exactly
these columns (extra columns are an error, missing nullable ones are filled with nulls).
Logical types: ``str``, ``int``, ``float``, ``bool``, ``date``, ``timestamp``.

Text columns of the ingested tables carry their maximum length (``max_length``, documented in
the README); ingest refuses longer values and control characters
(:func:`engine.data.validation.check_text`).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.config import CHANNELS

#: Interaction outcomes, weakest to strongest. ``engaged`` means outcome beyond "delivered".
OUTCOMES: tuple[str, ...] = ("delivered", "opened", "clicked", "attended")


#: Maximum lengths (characters) of ingested text: identifiers, names and codes, long text.
ID_LENGTH, NAME_LENGTH, CODE_LENGTH = 64, 100, 20
TITLE_LENGTH, ABSTRACT_LENGTH = 1_000, 20_000


@dataclass(frozen=True)
class Column:
    """One column. ``max_length``: the longest text ingest accepts (``None``: not ingested);
    ``multiline``: text that may hold line breaks and tabs (every other text is one line);
    ``planned``: a date that may lie ahead (an approval window), up to
    :data:`engine.data.validation.PLAN_HORIZON_DAYS` instead of tomorrow."""

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    doc: str = ""
    max_length: int | None = None
    multiline: bool = False
    planned: bool = False


def _consents():
    return tuple(Column(f"consent_{c}", "bool", nullable=False, doc=f"HCP agreed to {c} contact") for c in CHANNELS)


TABLES: dict[str, tuple[Column, ...]] = {
    "hcps": (
        Column("hcp_id", "str", nullable=False, primary_key=True, doc="10-digit NPI", max_length=ID_LENGTH),
        Column("first_name", "str", max_length=NAME_LENGTH),
        Column("last_name", "str", nullable=False, max_length=NAME_LENGTH),
        Column("credential", "str", max_length=NAME_LENGTH),
        Column("taxonomy_code", "str", doc="NUCC taxonomy code", max_length=CODE_LENGTH),
        Column("specialty", "str", nullable=False, max_length=NAME_LENGTH),
        Column("city", "str", max_length=NAME_LENGTH),
        Column("state", "str", max_length=NAME_LENGTH),
        Column("zip", "str", max_length=CODE_LENGTH),
        Column("territory", "str", max_length=NAME_LENGTH),
        Column("segment", "str", doc="brand segment, e.g. 'High value'", max_length=NAME_LENGTH),
        *_consents(),
    ),
    "contents": (
        Column("content_id", "str", nullable=False, primary_key=True, max_length=ID_LENGTH),
        Column("pmid", "str", max_length=CODE_LENGTH),
        Column("title", "str", nullable=False, max_length=TITLE_LENGTH, multiline=True),
        Column("abstract", "str", max_length=ABSTRACT_LENGTH, multiline=True),
        Column("therapeutic_area", "str", max_length=NAME_LENGTH),
        Column("publication_date", "date"),
        Column("approval_start", "date", planned=True),
        Column("approval_end", "date", planned=True),
    ),
    "campaigns": (
        Column("campaign_id", "str", nullable=False, primary_key=True),
        Column("channel", "str", nullable=False),
        Column("content_id", "str", nullable=False),
        Column("start_date", "date", planned=True),
        Column("end_date", "date", planned=True),
        Column("target_specialty", "str"),
    ),
    "interactions": (
        Column("interaction_id", "int", nullable=False, primary_key=True),
        Column("hcp_id", "str", nullable=False, max_length=ID_LENGTH),
        Column("content_id", "str", nullable=False, max_length=ID_LENGTH),
        Column("campaign_id", "str", max_length=ID_LENGTH),
        Column("channel", "str", nullable=False, max_length=CODE_LENGTH),
        Column("timestamp", "timestamp", nullable=False),
        Column("outcome", "str", nullable=False, doc="one of OUTCOMES", max_length=CODE_LENGTH),
        Column("engaged", "bool", nullable=False, doc="outcome beyond 'delivered'"),
        Column("dwell_seconds", "float"),
        Column("converted", "bool"),
    ),
    "patients": (
        Column("patient_id", "str", nullable=False, primary_key=True, max_length=ID_LENGTH),
        Column("hcp_id", "str", nullable=False, max_length=ID_LENGTH),
        Column("birthdate", "date"),
        Column("gender", "str", max_length=CODE_LENGTH),
        Column("state", "str", max_length=NAME_LENGTH),
        Column("assigned_specialty", "str", max_length=NAME_LENGTH),
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
        Column("created_at", "timestamp", nullable=False, doc="wall clock of the (latest) answer"),
        Column("as_of", "timestamp", doc="the day the service reasoned at when the answer was given"),
        Column("planned_at", "timestamp", doc="accept: the day the touch is planned for"),
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

#: table -> columns that identify a row besides its id (one feedback row per item and action)
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {"feedback": ("hcp_id", "content_id", "channel", "action")}

def column_names(table: str) -> list[str]:
    return [c.name for c in TABLES[table]]


def normalize_channel(value: str) -> str:
    """Map spellings seen in exports ('in-person', 'Social Event', 'rep visit') to :data:`CHANNELS`."""
    key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    return key
