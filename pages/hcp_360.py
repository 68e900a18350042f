"""HCP 360: profile, history, next best actions with reasons and feedback, journey forecast."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from components.charts import forecast_figure, history_timeline
from components.common import empty_state, error_alert, loading, page_header, ready_marker, section_card
from components.hcp import DISMISS_REASONS, full_name, profile_card, recommendations_table
from webapp.auth import require_role
from webapp.extensions import nba
from webapp.inputs import InvalidInput, index, records, text, whole_numbers

dash.register_page(__name__, path_template="/hcp/<hcp_id>", name="HCP 360", title="HCP 360 · HCP NBA", order=2)

N_RECOMMENDATIONS = 10
#: An NPI has 10 digits; the id store of this page holds one.
MAX_HCP_ID_CHARS = 20
#: The optional dismissal details (the text box stops typing there too).
MAX_DETAILS_CHARS = 500
REC_KEYS = ("content_id", "channel")
FORECAST_STEPS = 5
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}


def not_found_layout(hcp_id: str) -> html.Div:
    return html.Div([
        empty_state("HCP not found", f"No HCP with NPI “{hcp_id}” is in the store. Check the number or search "
                                     "by name.", action=dbc.Button("Search HCPs", href="/hcps", color="primary")),
        ready_marker("hcp360"),
    ], id="hcp360-not-found")


def layout(hcp_id: str | None = None, **_kwargs):
    hcp_id = (hcp_id or "").strip()
    profile = nba.service.hcp_profile(hcp_id) if hcp_id else None
    if profile is None:
        return not_found_layout(hcp_id)
    return html.Div([
        page_header(full_name(profile), f"NPI {profile['hcp_id']} · {profile.get('specialty') or ''}",
                    actions=dbc.Button("← Back to search", href="/hcps", color="link", size="sm", id="hcp360-back")),
        dcc.Store(id="hcp360-id", data=profile["hcp_id"]),
        dcc.Store(id="hcp360-recs"),
        dcc.Store(id="hcp360-pending"),
        dcc.Store(id="hcp360-done", data=[]),
        dbc.Row([
            dbc.Col(profile_card(profile), lg=4, className="mb-4"),
            dbc.Col(section_card("History", loading(dcc.Graph(id="hcp360-history", config=GRAPH_CONFIG))), lg=8),
        ]),
        section_card("Next best actions", loading(html.Div(id="hcp360-recs-slot")),
                     subtitle="ranked by expected engagement; consent, caps and approval rules applied"),
        section_card("Journey forecast", loading(dcc.Graph(id="hcp360-forecast", config=GRAPH_CONFIG)),
                     subtitle="next touchpoints: most likely channel at the median date, bars = 10–90 % range"),
        dismiss_modal(),
        dbc.Toast(id="hcp360-toast", header="Feedback", is_open=False, dismissable=True, duration=5000,
                  icon="success", style={"position": "fixed", "top": 76, "right": 16, "width": 360, "zIndex": 1080}),
        html.Div(id="hcp360-ready-slot"),
    ])


def dismiss_modal() -> dbc.Modal:
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Dismiss recommendation")),
        dbc.ModalBody([
            html.Div(id="hcp360-dismiss-title", className="fw-semibold mb-3"),
            dbc.Label("Reason", html_for="hcp360-dismiss-reason"),
            dcc.Dropdown(id="hcp360-dismiss-reason", options=DISMISS_REASONS, placeholder="Choose a reason…",
                         clearable=False, className="mb-3"),
            dbc.Label("Details (optional)", html_for="hcp360-dismiss-text"),
            dbc.Textarea(id="hcp360-dismiss-text", maxLength=MAX_DETAILS_CHARS, placeholder="Anything the brand team should know"),
        ]),
        dbc.ModalFooter([
            dbc.Button("Cancel", id="hcp360-dismiss-cancel", color="link"),
            dbc.Button("Dismiss", id="hcp360-dismiss-confirm", color="danger", disabled=True),
        ]),
    ], id="hcp360-dismiss-modal", is_open=False)


@dash.callback(
    Output("hcp360-history", "figure"), Output("hcp360-recs-slot", "children"), Output("hcp360-recs", "data"),
    Output("hcp360-forecast", "figure"), Output("hcp360-ready-slot", "children"),
    Input("hcp360-id", "data"),
)
def load_hcp(hcp_id):
    hcp_id = text(hcp_id, "hcp360-id.data", MAX_HCP_ID_CHARS)
    service = nba.service
    history = service.hcp_history(hcp_id)
    try:
        recs = service.recommend(hcp_id, n=N_RECOMMENDATIONS)
        forecast = service.forecast(hcp_id, steps=FORECAST_STEPS)
    except Exception as exc:  # noqa: BLE001 - e.g. no model bundle yet: say so, keep the profile usable
        return (history_timeline(history, title=None), error_alert(str(exc), "Recommendations unavailable"), [],
                forecast_figure([], title=None), ready_marker("hcp360"))
    table = recommendations_table(recs) if recs else empty_state(
        "No eligible recommendation", "Consent, contact caps or approval windows rule out every content right now.")
    slim = [{"content_id": r["content_id"], "channel": r["channel"], "title": r.get("title")} for r in recs]
    return (history_timeline(history, title=None), table, slim, forecast_figure(forecast, title=None),
            ready_marker("hcp360"))


@dash.callback(
    Output("hcp360-dismiss-modal", "is_open"), Output("hcp360-pending", "data"),
    Output("hcp360-dismiss-title", "children"), Output("hcp360-dismiss-reason", "value"),
    Output("hcp360-dismiss-text", "value"),
    Input({"type": "hcp360-dismiss", "index": ALL}, "n_clicks"), Input("hcp360-dismiss-cancel", "n_clicks"),
    State("hcp360-recs", "data"),
    prevent_initial_call=True,
)
def open_dismiss(clicks, _cancel, recs):
    trigger = ctx.triggered_id
    if trigger == "hcp360-dismiss-cancel":
        return False, None, no_update, no_update, no_update
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update, no_update, no_update  # buttons just rendered, not clicked
    recs = records(recs, "hcp360-recs.data", REC_KEYS)
    position = index(trigger["index"], len(recs), "hcp360-dismiss.index")
    rec = recs[position]
    return True, position, rec.get("title") or rec["content_id"], None, ""


@dash.callback(Output("hcp360-dismiss-confirm", "disabled"), Input("hcp360-dismiss-reason", "value"))
def need_reason(reason):
    return not reason


def feedback_message(action: str, title: str) -> str:
    return f"Accepted “{title}”." if action == "accept" else f"Dismissed “{title}”. Thanks, the reason was recorded."


@dash.callback(
    Output("hcp360-toast", "children"), Output("hcp360-toast", "is_open"), Output("hcp360-toast", "icon"),
    Output("hcp360-done", "data"),
    Output("hcp360-dismiss-modal", "is_open", allow_duplicate=True),
    Input({"type": "hcp360-accept", "index": ALL}, "n_clicks"), Input("hcp360-dismiss-confirm", "n_clicks"),
    State("hcp360-id", "data"), State("hcp360-recs", "data"), State("hcp360-pending", "data"),
    State("hcp360-dismiss-reason", "value"), State("hcp360-dismiss-text", "value"), State("hcp360-done", "data"),
    prevent_initial_call=True,
)
def send_feedback(_accepts, _confirm, hcp_id, recs, pending, reason, details, done):
    user = require_role("admin", "brand_manager", "msl")
    trigger = ctx.triggered_id
    if not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update, no_update, no_update
    hcp_id = text(hcp_id, "hcp360-id.data", MAX_HCP_ID_CHARS)
    recs = records(recs, "hcp360-recs.data", REC_KEYS)
    done = whole_numbers(done, "hcp360-done.data")
    if trigger == "hcp360-dismiss-confirm":
        if pending is None or not reason:
            return no_update, no_update, no_update, no_update, no_update
        if reason not in DISMISS_REASONS:
            raise InvalidInput("hcp360-dismiss-reason.value", "not one of the offered reasons")
        position, action = index(pending, len(recs), "hcp360-pending.data"), "dismiss"
        details = text(details, "hcp360-dismiss-text.value", MAX_DETAILS_CHARS)
        full_reason = f"{reason}: {details}" if details else reason
    elif isinstance(trigger, dict):
        position, action, full_reason = index(trigger["index"], len(recs), "hcp360-accept.index"), "accept", None
    else:
        return no_update, no_update, no_update, no_update, no_update
    rec = recs[position]
    try:
        nba.service.record_feedback(hcp_id, rec["content_id"], rec["channel"], action, full_reason, user.name)
    except Exception as exc:  # noqa: BLE001 - the user must know it was not saved
        return f"Feedback not saved: {exc}", True, "danger", no_update, False
    return feedback_message(action, rec.get("title") or rec["content_id"]), True, "success", \
        sorted(set(done) | {position}), False


def locked(done: list[int] | None, ids: list[dict]) -> list[bool]:
    """A recommendation gets one answer: its buttons are disabled once feedback was recorded."""
    answered = set(whole_numbers(done, "hcp360-done.data"))
    return [i["index"] in answered for i in ids]


# "Back to search" returns to the search this tab last made (pages/hcp_lookup.py keeps it).
dash.clientside_callback(
    "function(_id) { return '/hcps' + (window.sessionStorage.getItem('nba-last-search') || ''); }",
    Output("hcp360-back", "href"), Input("hcp360-id", "data"),
)

for _button in ("hcp360-accept", "hcp360-dismiss"):
    dash.callback(
        Output({"type": _button, "index": ALL}, "disabled"),
        Input("hcp360-done", "data"), State({"type": _button, "index": ALL}, "id"),
        prevent_initial_call=True,
    )(locked)
