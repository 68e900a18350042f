"""Shared UI pieces so every page looks and behaves the same.

Conventions every page follows
------------------------------
* **Ready marker** (the web benchmark and e2e tests wait for it): once a page's main data is in
  the DOM, the page renders exactly one ``ready_marker("<page>")`` — an invisible element with
  ``id="<page>-ready"`` and class ``page-ready``. Put it in ``layout()`` when the layout
  fetches its data itself, or in the output of the callback that fills the main content.
  Empty and error states render it too (the page is usable: it says what is wrong).
* Component ids are namespaced per page (``"hcp360-recs-table"``); the prefix ``admin-`` is
  reserved for the Admin page: the server refuses any callback writing to an ``admin-`` id
  unless the user is an admin.
* Data and user text is rendered as plain text children, never as HTML or raw markdown.
"""
from __future__ import annotations

import logging

from dash import dcc, html
import dash_bootstrap_components as dbc

from components.theme import PRIMARY

log = logging.getLogger(__name__)

#: Longest value offered in a filter dropdown. The browser indexes every substring of every option
#: for type-to-search, so one 20,000-character value ran it out of memory; no real filter value
#: (specialty, state, segment, version) comes close.
MAX_OPTION_CHARS = 100


def filter_choices(values, field: str) -> list[str]:
    """``values`` as dropdown options, without any longer than :data:`MAX_OPTION_CHARS` (logged)."""
    values = [str(v) for v in values]
    kept = [v for v in values if len(v) <= MAX_OPTION_CHARS]
    if len(kept) < len(values):
        log.warning("%s: %d value(s) longer than %d characters left out of the filter options",
                    field, len(values) - len(kept), MAX_OPTION_CHARS)
    return kept


def ready_marker(page: str) -> html.Span:
    """Invisible marker meaning "this page's main content is in" (see module docstring)."""
    return html.Span(id=f"{page}-ready", className="page-ready", hidden=True)


def page_header(title: str, subtitle: str | None = None, actions=None) -> html.Div:
    """Page title row: title, optional one-line description, optional right-aligned actions."""
    left = [html.H2(title, className="page-title mb-1")]
    if subtitle:
        left.append(html.P(subtitle, className="page-subtitle text-muted mb-0"))
    return html.Div(
        [html.Div(left), html.Div(actions, className="page-actions") if actions is not None else None],
        className="page-header d-flex justify-content-between align-items-end flex-wrap gap-2 mb-4",
    )


def kpi_card(title: str, value, subtitle: str | None = None, id: str | None = None, color: str = "primary") -> dbc.Card:
    """A KPI tile; ``value`` is shown as text (format it first), ``id`` goes on the value."""
    value_props = {"id": id} if id else {}
    body = [
        html.Div(title, className="kpi-title text-uppercase text-muted small"),
        html.Div(value, className=f"kpi-value text-{color}", **value_props),
    ]
    if subtitle:
        body.append(html.Div(subtitle, className="kpi-subtitle small text-muted"))
    return dbc.Card(dbc.CardBody(body), className="kpi-card h-100 shadow-sm")


def empty_state(title: str, message: str | None = None, action=None, icon: str = "∅") -> html.Div:
    """A friendly "nothing here" block (no results, unknown NPI, no model yet)."""
    children = [html.Div(icon, className="empty-state-icon", **{"aria-hidden": "true"}), html.H4(title, className="mt-2")]
    if message:
        children.append(html.P(message, className="text-muted mb-2"))
    if action is not None:
        children.append(html.Div(action, className="empty-state-action"))
    return html.Div(children, className="empty-state text-center py-5")


def error_alert(message: str, title: str = "Something went wrong") -> dbc.Alert:
    """A user-facing error: what happened in plain words (never a traceback)."""
    return dbc.Alert([html.Strong(title + ": "), html.Span(message)], color="danger", className="error-alert")


def loading(children, id: str | None = None, type: str = "default") -> dcc.Loading:
    """``dcc.Loading`` with the shared look; wrap slow elements (charts, grids, tables)."""
    props = {"id": id} if id else {}
    return dcc.Loading(children, type=type, color=PRIMARY, delay_show=150, parent_className="loading-wrap", **props)


def section_card(title: str, children, id: str | None = None, subtitle: str | None = None) -> dbc.Card:
    """A titled card for one section of a page."""
    header = [html.Span(title, className="fw-semibold")]
    if subtitle:
        header.append(html.Span(" · " + subtitle, className="text-muted small"))
    props = {"id": id} if id else {}
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(children)], className="section-card shadow-sm mb-4", **props)
