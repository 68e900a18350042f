"""Feedback report: how field users answer recommendations and plan steps (brand managers and admins).

Acceptance rate by channel and by content, and why items are dismissed. The roles are declared
where the page registers and checked on the server: the request guard refuses the page and its
callbacks to another role, ``layout()`` renders nothing for it, the refresh callback starts with
``require_page_role`` and the service refuses the report without the role.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html

from components.common import empty_state, kpi_card, page_header, ready_marker, section_card
from components.tables import simple_table
from components.theme import channel_label
from webapp.access import may_open, page_roles, refusal, require_page_role
from webapp.auth import current_user
from webapp.extensions import nba

dash.register_page(__name__, path="/feedback", name="Feedback", title="Feedback · HCP NBA", order=7,
                   roles=("brand_manager", "admin"))


def _rate(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def report_panels(report: dict) -> html.Div:
    """KPI tiles and the three tables of a feedback report (text cells only: reasons are user text)."""
    totals = report["totals"]
    tiles = dbc.Row([dbc.Col(c, md=3, className="mb-2") for c in (
        kpi_card("Answered items", f"{totals['answers']:,}", id="feedback-answers"),
        kpi_card("Accepted", f"{totals['accepted']:,}", id="feedback-accepted"),
        kpi_card("Dismissed", f"{totals['dismissed']:,}", f"{totals['snoozed']:,} snoozed", id="feedback-dismissed"),
        kpi_card("Acceptance rate", _rate(totals["acceptance_rate"]), id="feedback-rate"))], className="g-3 mb-3")
    by_channel = [{"Channel": channel_label(r["channel"]), "Accepted": r["accepted"], "Dismissed": r["dismissed"],
                   "Acceptance rate": _rate(r["acceptance_rate"])} for r in report["by_channel"]]
    by_content = [{"Content": r.get("title") or r["content_id"], "Accepted": r["accepted"],
                   "Dismissed": r["dismissed"], "Acceptance rate": _rate(r["acceptance_rate"])}
                  for r in report["by_content"]]
    reasons = [{"Reason": r["reason"], "Dismissals": r["count"]} for r in report["dismiss_reasons"]]
    return html.Div([
        tiles,
        dbc.Row([
            dbc.Col(section_card("By channel", simple_table(by_channel, "No answers yet", id="feedback-by-channel")),
                    lg=6),
            dbc.Col(section_card("Why items are dismissed",
                                 simple_table(reasons, "Nothing dismissed yet", id="feedback-reasons")), lg=6),
        ]),
        section_card("By content", simple_table(by_content, "No answers yet", id="feedback-by-content"),
                     subtitle="most answered first"),
    ])


def layout(**_kwargs):
    user = current_user()
    if not may_open(__name__, user):
        return empty_state(*refusal(page_roles(__name__)), icon="🔒")
    return html.Div([
        page_header("Feedback", "How field users answer recommendations and plan steps: what they accept, "
                                "what they dismiss and why",
                    dbc.Button("Refresh", id="feedback-refresh", color="secondary", outline=True, size="sm")),
        html.Div(report_panels(nba.service.feedback_report(user=user.name, role=user.role)), id="feedback-report"),
        ready_marker("feedback"),
    ])


@dash.callback(Output("feedback-report", "children"), Input("feedback-refresh", "n_clicks"),
               prevent_initial_call=True)
def refresh(_n):
    user = require_page_role(__name__)
    return report_panels(nba.service.feedback_report(user=user.name, role=user.role))
