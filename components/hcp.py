"""HCP pieces: profile card, channel badges, recommendation table with feedback buttons.

All text from data (names, titles, reasons) is passed as plain component children, which Dash
renders as text, never as HTML.
"""
from __future__ import annotations

import datetime

import dash_bootstrap_components as dbc
from dash import html

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


def probability_bars(probabilities: dict[str, float], best: str | None = None) -> html.Div:
    """Five small vertical bars (one per channel, channel colours, tallest = most likely) with the value on hover.

    Each bar is one element whose filled part is a background gradient (not a nested element):
    the HCP 360 table draws ten rows of these, and every Dash component costs server time to
    build and serialise on each callback.
    """
    top = max([float(p or 0.0) for p in probabilities.values()] + [1e-9])
    bars = []
    for channel in CHANNELS:
        p = float(probabilities.get(channel) or 0.0)
        filled = f"{max(p / top, 0.04) * 100:.0f}%"
        color = channel_color(channel)
        bars.append(html.Div(
            title=f"{channel_label(channel)}: {p:.0%}",
            style={"height": "28px", "width": "12px", "borderRadius": "2px 2px 0 0",
                   "background": f"linear-gradient(to top, {color} {filled}, transparent {filled})",
                   "opacity": 1.0 if channel == best else 0.55}))
    return html.Div(bars, className="d-flex gap-1 align-items-end", style={"height": "28px"})


def feedback_buttons(id_prefix: str, key: int) -> html.Div:
    """Accept / Dismiss buttons of one item; ids ``{"type": f"{id_prefix}-accept"|..., "index": key}``."""
    return html.Div([
        dbc.Button("Accept", id={"type": f"{id_prefix}-accept", "index": key}, size="sm", color="success",
                   className="me-1"),
        dbc.Button("Dismiss", id={"type": f"{id_prefix}-dismiss", "index": key}, size="sm", color="secondary"),
    ], className="d-flex flex-nowrap")


def _why(reasons: list[str], notes: list[str]) -> list:
    return [html.Ul([html.Li(r) for r in reasons[:3]], className="mb-1 ps-3 small"),
            *[html.Div(n, className="small text-warning-emphasis") for n in notes]]


def recommendations_table(recs: list[dict], id_prefix: str = "hcp360") -> html.Div:
    """Ranked recommendations with reasons and Accept/Dismiss buttons (pattern-matching ids).

    Button ids are ``{"type": f"{id_prefix}-accept"|f"{id_prefix}-dismiss", "index": i}`` (the row's
    position); the page keeps the items in a store to look up the content and channel of a clicked row.
    """
    header = html.Thead(html.Tr([html.Th("#"), html.Th("Content"), html.Th("Best channel"),
                                 html.Th("Channel probability"), html.Th("Engagement", className="text-end"),
                                 html.Th("Why"), html.Th("")]))
    rows = []
    for i, rec in enumerate(recs):
        reasons = rec.get("reasons") or []
        notes = rec.get("rule_notes") or []
        rows.append(html.Tr([
            html.Td(rec["rank"], className="fw-semibold"),
            html.Td([html.Div(rec.get("title") or rec["content_id"], className="rec-title"),
                     html.Div(rec["content_id"], className="text-muted small")], style={"maxWidth": "340px"}),
            html.Td(channel_badge(rec["channel"])),
            html.Td(probability_bars(rec.get("channel_probabilities") or {}, best=rec["channel"])),
            html.Td(f"{float(rec['engagement_probability']):.0%}", className="text-end fw-semibold"),
            html.Td(_why(reasons, notes), style={"maxWidth": "300px"}),
            html.Td(feedback_buttons(id_prefix, i)),
        ], id={"type": f"{id_prefix}-rec-row", "index": i}))
    legend = html.Div(["Channel probability bars, left to right: ",
                       *[channel_badge(c) for c in CHANNELS]], className="small text-muted mb-2")
    return html.Div([legend, dbc.Table([header, html.Tbody(rows)], hover=True, striped=True, borderless=True,
                                       responsive=True, className="align-middle mb-0")], id=f"{id_prefix}-recs-table")


#: Reasons offered when dismissing a recommendation (free text can add detail).
DISMISS_REASONS = [
    "Already discussed with HCP", "Not relevant to HCP's practice", "Wrong channel for this HCP",
    "Timing not right", "Content outdated", "Other",
]


def _day(iso: str | None) -> str:
    return "—" if not iso else datetime.date.fromisoformat(str(iso)[:10]).strftime("%d %b %Y")


def plan_table(plan: dict, id_prefix: str = "hcp360", offset: int = 0) -> html.Div:
    """The plan's steps (date, content, channel, expected engagement, why) with Accept/Dismiss buttons
    (``index`` ``offset + i``, after the page's other items; accepting plans the touch for the step's date)."""
    header = html.Thead(html.Tr([html.Th("Step"), html.Th("Date"), html.Th("Content"), html.Th("Channel"),
                                 html.Th("Engagement", className="text-end"), html.Th("Why"), html.Th("")]))
    rows = [html.Tr([
        html.Td(step["step"], className="fw-semibold"),
        html.Td(_day(step["date"]), className="text-nowrap"),
        html.Td([html.Div(step.get("title") or step["content_id"], className="rec-title"),
                 html.Div(step["content_id"], className="text-muted small")], style={"maxWidth": "340px"}),
        html.Td(channel_badge(step["channel"])),
        html.Td(f"{float(step['engagement_probability']):.0%}", className="text-end fw-semibold"),
        html.Td(_why(step.get("reasons") or [], step.get("rule_notes") or []), style={"maxWidth": "300px"}),
        html.Td(feedback_buttons(id_prefix, offset + i)),
    ], id={"type": f"{id_prefix}-plan-row", "index": i}) for i, step in enumerate(plan.get("steps") or [])]
    rows += [html.Tr([
        html.Td("✓", className="text-success fw-semibold", title="accepted"), html.Td(_day(a["date"])),
        html.Td([html.Div(a.get("title") or a["content_id"], className="rec-title"),
                 html.Div("accepted: planned touch", className="text-muted small")]),
        html.Td(channel_badge(a["channel"])), html.Td(""), html.Td(""), html.Td(""),
    ], className="table-success") for a in plan.get("accepted") or []]
    return dbc.Table([header, html.Tbody(rows)], hover=True, borderless=True, responsive=True,
                     className="align-middle mb-0", id=f"{id_prefix}-plan-table")


#: How each feedback state reads on the page.
FEEDBACK_STATES = {"planned": "Accepted · planned", "done": "Accepted · done", "resting": "Dismissed · not suggested",
                   "rest over": "Dismissed · may return", "snoozed": "Snoozed · back later",
                   "snooze over": "Snoozed · suggested again"}


def feedback_table(items: list[dict], id_prefix: str = "hcp360") -> html.Div:
    """The HCP's answered items and their state (text only: reasons are user text)."""
    if not items:
        return html.P("No feedback on this HCP yet.", className="text-muted mb-0", id=f"{id_prefix}-feedback-empty")
    header = html.Thead(html.Tr([html.Th(h) for h in ("Content", "Channel", "State", "For", "Reason", "By",
                                                      "Answered")]))
    rows = [html.Tr([
        html.Td(item.get("title") or item["content_id"], className="rec-title"),
        html.Td(channel_badge(item["channel"])),
        html.Td(FEEDBACK_STATES.get(item["state"], item["state"]), className="feedback-state"),
        html.Td(_day(item["planned_for"]) if item["action"] == "accept" else f"until {_day(item['rests_until'])}"),
        html.Td(item.get("reason") or "—", className="small"),
        html.Td(item.get("user_name") or "—"),
        html.Td(_day(item.get("answered_at"))),
    ], id={"type": f"{id_prefix}-feedback-row", "index": i}) for i, item in enumerate(items)]
    return dbc.Table([header, html.Tbody(rows)], size="sm", striped=True, responsive=True, className="mb-0",
                     id=f"{id_prefix}-feedback-table")
