"""HCP pieces: profile card, channel and consent badges, the answered items' list (the suggested
actions themselves are cards: :mod:`components.actions`).

All text from data (names, titles, reasons) is passed as plain component children, which Dash
renders as text, never as HTML.
"""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from components.formats import day
from components.theme import channel_color, channel_label
from engine.config import CHANNELS


def channel_badge(channel: str, **kwargs) -> html.Span:
    """A pill in the channel's colour (same colour as in every chart)."""
    return html.Span(channel_label(channel), className="badge rounded-pill me-1",
                     style={"backgroundColor": channel_color(channel), "color": "white"}, **kwargs)


def full_name(profile: dict) -> str:
    parts = [profile.get("first_name") or "", profile.get("last_name") or ""]
    name = " ".join(p for p in parts if p).strip() or profile.get("name") or profile.get("hcp_id", "")
    return f"{name}, {profile['credential']}" if profile.get("credential") else name


def consent_badges(profile: dict) -> list:
    """One badge per channel: coloured when the HCP consented (marked when its contact cap is reached),
    struck-through grey otherwise."""
    capped = {c["channel"] for c in profile.get("channels") or [] if c.get("capped")}
    badges = []
    for channel in CHANNELS:
        if profile.get(f"consent_{channel}") and channel in capped:
            badges.append(html.Span([channel_label(channel), " · cap reached"], className="badge rounded-pill me-1",
                                    title=f"Consented, but the {channel_label(channel)} contact cap is reached",
                                    style={"backgroundColor": channel_color(channel), "color": "white",
                                           "opacity": 0.6}))
        elif profile.get(f"consent_{channel}"):
            badges.append(channel_badge(channel, title=f"Consented to {channel_label(channel)}"))
        else:
            badges.append(html.Span(channel_label(channel), title=f"No consent for {channel_label(channel)}",
                                    className="badge rounded-pill me-1 text-bg-light text-decoration-line-through"))
    return badges


def _field(label: str, value) -> html.Div:
    return html.Div([html.Div(label, className="text-muted small text-uppercase"),
                     html.Div(str(value) if value not in (None, "") else "—", className="fw-semibold")],
                    className="mb-2")


def profile_card(profile: dict) -> dbc.Card:
    """Name, credential, NPI, specialty, location, territory, segment and consents."""
    location = ", ".join(p for p in (profile.get("city"), profile.get("state"), profile.get("zip")) if p)
    stats = []
    if profile.get("touches") is not None:
        stats.append(_field("Touches", f"{int(profile['touches']):,}"))
    if profile.get("engagement_rate") is not None:
        stats.append(_field("Engagement rate", f"{float(profile['engagement_rate']):.0%}"))
    return dbc.Card(dbc.CardBody([
        html.H5(profile.get("specialty") or "Specialty unknown", className="mb-3"),
        dbc.Row([
            dbc.Col(_field("NPI", profile.get("hcp_id")), xs=6),
            dbc.Col(_field("Segment", profile.get("segment")), xs=6),
            dbc.Col(_field("Location", location), xs=6),
            dbc.Col(_field("Territory", profile.get("territory")), xs=6),
            *[dbc.Col(s, xs=6) for s in stats],
        ]),
        html.Div("Consent", className="text-muted small text-uppercase mb-1"),
        html.Div(consent_badges(profile)),
    ]), className="h-100 shadow-sm")


#: How each feedback state reads on the page.
FEEDBACK_STATES = {"planned": "Accepted · planned", "done": "Accepted · done", "resting": "Dismissed · not suggested",
                   "rest over": "Dismissed · may return", "snoozed": "Snoozed · back later",
                   "snooze over": "Snoozed · suggested again"}


def feedback_list(items: list[dict], id_prefix: str = "hcp360") -> html.Div:
    """The HCP's answered items and their state, one line each (text only: reasons are user text)."""
    if not items:
        return html.P("No feedback on this HCP yet.", className="text-muted mb-0", id=f"{id_prefix}-feedback-empty")
    rows = []
    for i, item in enumerate(items):
        when = (f"for {day(item['planned_for'])}" if item["action"] == "accept"
                else f"until {day(item['rests_until'])}")
        by = " · ".join(v for v in (item.get("user_name"), f"answered {day(item.get('answered_at'))}") if v)
        rows.append(html.Li([
            html.Div(item.get("title") or item["content_id"], className="feedback-title fw-semibold clamp-2"),
            html.Div([channel_badge(item["channel"]),
                      html.Span(FEEDBACK_STATES.get(item["state"], item["state"]), className="feedback-state me-1"),
                      html.Span(when, className="text-muted")], className="small d-flex flex-wrap align-items-center"),
            html.Div(item["reason"], className="small fst-italic") if item.get("reason") else None,
            html.Div(by, className="small text-muted"),
        ], className="list-group-item feedback-item", id={"type": f"{id_prefix}-feedback-row", "index": i}))
    return html.Ul(rows, className="list-group list-group-flush", id=f"{id_prefix}-feedback-list")
