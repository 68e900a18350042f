"""Content detail: what a content is about, its approval window, how HCPs responded, and its PubMed
record (a link only: nothing is fetched from PubMed)."""
from __future__ import annotations

from urllib.parse import unquote

import dash
import dash_bootstrap_components as dbc
from dash import html

from components.common import empty_state, page_header, ready_marker, section_card
from components.content import pubmed_link
from components.formats import count, day, percent
from components.hcp import channel_badge
from components.tables import simple_table
from webapp.extensions import nba

dash.register_page(__name__, path_template="/content/<content_id>", name="Content", title="Content · HCP NBA",
                   order=8)

#: A content id is short (PMID12345678, C0042); a longer path part is not looked up.
MAX_CONTENT_ID_CHARS = 64


def not_found(content_id: str) -> html.Div:
    return html.Div([empty_state("Content not found", f"No content “{content_id}” is in the catalogue.",
                                 action=dbc.Button("Topic explorer", href="/topics", color="primary")),
                     ready_marker("content")], id="content-not-found")


def approval_text(detail: dict) -> str:
    start, end = detail.get("approval_start"), detail.get("approval_end")
    window = f"{day(start)} to {day(end)}" if start or end else "no approval window recorded"
    return ("Approved for use: " if detail.get("approved") else "Not approved for use today: ") + window


def facts(detail: dict) -> html.Dl:
    pubmed = pubmed_link(detail.get("pmid"), id="content-pubmed")
    rows = [("Topic", detail.get("topic") or "—"), ("Therapeutic area", detail.get("therapeutic_area") or "—"),
            ("Published", day(detail.get("publication_date"))), ("Approval", approval_text(detail)),
            ("PubMed", [f"PMID {detail['pmid']} · ", pubmed] if pubmed is not None
             else "No PubMed record (content written for this catalogue)")]
    return html.Dl([item for label, value in rows for item in (
        html.Dt(label, className="col-sm-3 fw-normal text-muted"), html.Dd(value, className="col-sm-9 mb-1"))],
        className="row mb-0")


def response_table(detail: dict):
    rows = [{"Channel": channel_badge(c["channel"]), "Sends": count(c["touches"]), "Engaged": count(c["engaged"]),
             "Engagement rate": percent(c["rate"], 1)} for c in detail["channels"] if c["touches"]]
    return simple_table(rows, empty="Not sent to any HCP yet", id="content-channels")


def layout(content_id: str | None = None, **_kwargs):
    content_id = unquote(content_id or "").strip()
    detail = nba.service.content_detail(content_id) if 0 < len(content_id) <= MAX_CONTENT_ID_CHARS else None
    if detail is None:
        return not_found(content_id[:MAX_CONTENT_ID_CHARS])
    overall = (f"{count(detail['touches'])} sends, {percent(detail['rate'], 1)} engaged" if detail["touches"]
               else "not sent yet")
    return html.Div([
        page_header(detail.get("title") or detail["content_id"], f"{detail['content_id']} · {overall}"),
        dbc.Row([
            dbc.Col(section_card("About", facts(detail)), lg=7),
            dbc.Col(section_card("How HCPs responded", response_table(detail)), lg=5),
        ]),
        section_card("Abstract", html.P(detail.get("abstract") or "No abstract.", className="content-abstract mb-0")),
        ready_marker("content"),
    ], id="content-page")
