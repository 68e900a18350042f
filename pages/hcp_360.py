"""HCP 360: profile, history, the dated plan (its timeline and steps), today's next best actions with
reasons, feedback on both and its state, and what the history alone predicts (the LSTM forecast)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from components.charts import forecast_figure, history_timeline, plan_figure
from components.common import empty_state, error_alert, loading, page_header, ready_marker, section_card
from components.formats import day
from components.actions import action_card, action_grid, answer_message, notes_block, shared_notes
from components.dismiss import dismiss_callbacks, dismiss_dialog, dismissal
from components.hcp import feedback_list, full_name, profile_card
from webapp.auth import require_role
from webapp.extensions import nba
from webapp.inputs import index, records, text, whole_numbers

dash.register_page(__name__, path_template="/hcp/<hcp_id>", name="HCP 360", title="HCP 360 · HCP NBA", order=2)

N_RECOMMENDATIONS = 10
#: An NPI has 10 digits; the id store of this page holds one.
MAX_HCP_ID_CHARS = 20
#: The optional dismissal details (the text box stops typing there too).
#: what a feedback button's item carries (today's actions first, then the plan's steps, with a date)
ITEM_KEYS = ("content_id", "channel")
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
                    actions=dcc.Link("← Back to search", href="/hcps", className="btn btn-link btn-sm", id="hcp360-back")),
        dcc.Store(id="hcp360-id", data=profile["hcp_id"]),
        dcc.Store(id="hcp360-items"),
        dcc.Store(id="hcp360-done", data=[]),
        dbc.Row([
            dbc.Col(profile_card(profile), lg=4, className="mb-4"),
            dbc.Col(section_card("History", loading(dcc.Graph(id="hcp360-history", config=GRAPH_CONFIG))), lg=8),
        ]),
        section_card("Plan", loading(html.Div([dcc.Graph(id="hcp360-plan-timeline", config=GRAPH_CONFIG),
                                               html.Div(id="hcp360-plan-slot")])),
                     subtitle="the next touches, dated: step 1 is today's best action; later dates follow the "
                              "gaps this HCP's history shows; consent, caps (past and planned touches), approval "
                              "windows on each step's day and channel costs applied"),
        section_card("Next best actions today", loading(html.Div(id="hcp360-recs-slot")),
                     subtitle="ranked by value (expected engagement minus channel cost); consent, caps, approval "
                              "and feedback applied"),
        section_card("Feedback on this HCP", loading(html.Div(id="hcp360-feedback-slot")),
                     subtitle="accepted touches are planned and count toward caps; dismissed content is not "
                              "suggested again for a while"),
        section_card("What the history predicts", loading(dcc.Graph(id="hcp360-forecast", config=GRAPH_CONFIG)),
                     subtitle="the sequence model's forecast from past touches alone (no rules, no plan): most "
                              "likely channel at the median date, bars = 10–90 % range"),
        dismiss_dialog("hcp360", "Dismiss recommendation"),
        dbc.Toast(id="hcp360-toast", header="Feedback", is_open=False, dismissable=True, duration=5000,
                  icon="success", className="app-toast"),
        html.Div(id="hcp360-ready-slot"),
    ])


def feedback_items(recs: list[dict], plan: dict) -> list[dict]:
    """What each feedback button answers, by its index: today's actions, then the plan's steps (with a date)."""
    return ([{"content_id": r["content_id"], "channel": r["channel"], "title": r.get("title")} for r in recs]
            + [{"content_id": s["content_id"], "channel": s["channel"], "title": s.get("title"), "date": s["date"]}
               for s in plan.get("steps") or []])


@dash.callback(
    Output("hcp360-history", "figure"), Output("hcp360-plan-timeline", "figure"), Output("hcp360-plan-slot", "children"),
    Output("hcp360-recs-slot", "children"), Output("hcp360-items", "data"), Output("hcp360-feedback-slot", "children"),
    Output("hcp360-forecast", "figure"), Output("hcp360-ready-slot", "children"),
    Input("hcp360-id", "data"),
)
def load_hcp(hcp_id):
    hcp_id = text(hcp_id, "hcp360-id.data", MAX_HCP_ID_CHARS)
    service = nba.service
    history = history_timeline(service.hcp_history(hcp_id), title=None)
    feedback = feedback_list(service.feedback_items(hcp_id))
    try:
        plan = service.plan(hcp_id)
        recs = service.recommend(hcp_id, n=N_RECOMMENDATIONS)
        forecast = service.forecast(hcp_id, steps=FORECAST_STEPS)
    except Exception as exc:  # noqa: BLE001 - e.g. no model bundle yet: say so, keep the profile usable
        unavailable = error_alert(str(exc), "Recommendations unavailable")
        return (history, plan_figure({}), unavailable, unavailable, [], feedback, forecast_figure([], title=None),
                ready_marker("hcp360"))
    table = html.Div([
        notes_block(shared_notes(recs + plan["steps"]), id="hcp360-notes"),
        action_grid([action_card(r, i, "hcp360", number=r["rank"]) for i, r in enumerate(recs)], "hcp360-recs"),
    ]) if recs else empty_state(
        "No eligible recommendation", "Consent, contact caps, approval windows or feedback rule out every content "
                                      "today.")
    steps = action_grid(
        [action_card(s, len(recs) + i, "hcp360", number=s["step"]) for i, s in enumerate(plan["steps"])]
        + [action_card(a, f"accepted-{i}", "hcp360", state=f"Accepted · planned for {day(a['date'])}")
           for i, a in enumerate(plan["accepted"])], "hcp360-plan") if plan["steps"] or plan["accepted"] else html.Div()
    return (history, plan_figure(plan), steps, table, feedback_items(recs, plan), feedback,
            forecast_figure(forecast, title=None), ready_marker("hcp360"))


dismiss_callbacks(__name__, "hcp360", ITEM_KEYS)


@dash.callback(
    Output("hcp360-toast", "children"), Output("hcp360-toast", "is_open"), Output("hcp360-toast", "icon"),
    Output("hcp360-done", "data"), Output("hcp360-feedback-slot", "children", allow_duplicate=True),
    Output("hcp360-dismiss-modal", "is_open", allow_duplicate=True),
    Input({"type": "hcp360-accept", "index": ALL}, "n_clicks"), Input("hcp360-dismiss-confirm", "n_clicks"),
    State("hcp360-id", "data"), State("hcp360-items", "data"), State("hcp360-pending", "data"),
    State("hcp360-dismiss-reason", "value"), State("hcp360-dismiss-text", "value"), State("hcp360-done", "data"),
    prevent_initial_call=True,
)
def send_feedback(_accepts, _confirm, hcp_id, items, pending, reason, details, done):
    user = require_role("admin", "brand_manager", "msl")
    trigger = ctx.triggered_id
    unchanged = (no_update,) * 6
    if not ctx.triggered[0]["value"]:
        return unchanged
    hcp_id = text(hcp_id, "hcp360-id.data", MAX_HCP_ID_CHARS)
    items = records(items, "hcp360-items.data", ITEM_KEYS)
    done = whole_numbers(done, "hcp360-done.data")
    if trigger == "hcp360-dismiss-confirm":
        dismissed = dismissal("hcp360", pending, reason, details, len(items))
        if dismissed is None:
            return unchanged
        (position, full_reason), action = dismissed, "dismiss"
    elif isinstance(trigger, dict):
        position, action, full_reason = index(trigger["index"], len(items), "hcp360-accept.index"), "accept", None
    else:
        return unchanged
    item = items[position]
    planned_for = (text(item.get("date"), "hcp360-items.data", 10) or None) if action == "accept" else None
    try:
        stored = nba.service.record_feedback(hcp_id, item["content_id"], item["channel"], action, full_reason,
                                             user.name, planned_for=planned_for)
    except Exception as exc:  # noqa: BLE001 - the user must know it was not saved
        return f"Not saved: {exc}", True, "danger", no_update, no_update, False
    # the same item may be listed twice (today's action and plan step 1): both are answered
    same = {k for k, other in enumerate(items)
            if (other["content_id"], other["channel"]) == (item["content_id"], item["channel"])}
    return (answer_message(stored), True, "success",
            sorted(set(done) | same), feedback_list(nba.service.feedback_items(hcp_id)), False)


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
