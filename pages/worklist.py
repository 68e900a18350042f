"""Worklist: today's suggested actions for a territory, best first, within what a day holds.

An MSL sees the territory their user carries (checked on the server: the territory comes from the
user, never from the browser); brand managers and admins pick one. Each action can be accepted
(a touch planned for today), snoozed (suggested again in ``SNOOZE_DAYS``) or dismissed with a
reason; the list answers at once. The week's plan exports as CSV.
"""
from __future__ import annotations

from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from components.actions import action_card, action_grid, answer_message
from components.common import MAX_OPTION_CHARS, empty_state, error_alert, filter_choices, loading, page_header, \
    ready_marker, section_card
from components.formats import day
from components.dismiss import dismiss_callbacks, dismiss_dialog, dismissal
from engine.config import CHANNELS, channel_label
from webapp.auth import current_user, require_role
from webapp.extensions import nba
from webapp.inputs import index, optional_text, records

dash.register_page(__name__, path="/worklist", name="Worklist", title="Worklist · HCP NBA", order=2)

#: what each action button stands for (kept in a store, looked up by the button's index)
ITEM_KEYS = ("hcp_id", "content_id", "channel")
ROLES = ("admin", "brand_manager", "msl")
#: cards shown at first, and added by each "Show more" (a phone scrolls through a few at a time)
CARDS_PER_PAGE = 20


def territory_of(user, wanted: str | None) -> str | None:
    """The territory ``user`` may see: an MSL's own (whatever the browser sent), else the one chosen."""
    return user.territory if user.role == "msl" else wanted


def hcp_line(action: dict) -> html.Div:
    where = ", ".join(v for v in (action.get("city"), action.get("state")) if v)
    return html.Div([dcc.Link(action.get("name") or action["hcp_id"], href=f"/hcp/{action['hcp_id']}",
                              className="fw-semibold"),
                     html.Span(" · " + " · ".join(v for v in (action.get("specialty"), where) if v),
                               className="text-muted small")])


def usage_text(work: dict) -> str:
    """"9 actions today: rep visits 8 of 8, emails 1 of 40"."""
    parts = [f"{channel_label(c).lower()}s {work['used'][c]} of {work['capacity'][c]}"
             for c in CHANNELS if work["used"].get(c) and c in work["capacity"]]
    total = work["total"] + len(work["accepted"])
    return f"{total} action{'s' if total != 1 else ''} for {day(work['as_of'])}" + (f": {', '.join(parts)}" if parts else "")


def worklist_body(work: dict, shown: int = CARDS_PER_PAGE) -> tuple[list, list[dict]]:
    """(the page's cards, the first ``shown`` suggestions; what each button stands for)."""
    actions = work["actions"][:shown]
    items = [{"hcp_id": a["hcp_id"], "content_id": a["content_id"], "channel": a["channel"], "title": a.get("title"),
              "hcp_name": a.get("name")} for a in actions]
    cards = [action_card(a, i, "worklist", number=a["rank"], hcp=hcp_line(a), snooze=True)
             for i, a in enumerate(actions)]
    accepted = [action_card(a, f"accepted-{i}", "worklist", hcp=hcp_line(a), state="Accepted · planned for today")
                for i, a in enumerate(work["accepted"])]
    body = []
    if accepted:
        body.append(section_card("Accepted for today", action_grid(accepted, "worklist-accepted"),
                                 subtitle="planned touches: they count toward the day and the contact caps"))
    more = len(work["actions"]) - len(actions)
    body.append(section_card("Suggested", [action_grid(cards, "worklist-actions") if cards else empty_state(
        "Nothing more to suggest today", "The day's capacity is used, or the rules and answers rule the rest out."),
        dbc.Button(f"Show {min(more, CARDS_PER_PAGE)} more of {more}", id="worklist-more", color="secondary",
                   outline=True, className="w-100") if more > 0 else None],
        subtitle="best value first (chance to engage, less the channel's cost); one action per HCP"))
    return body, items


def layout(territory=None, **_kwargs):
    user = current_user()
    if user is None:
        return empty_state("Sign in", "The worklist needs a signed-in user.")
    options = filter_choices(nba.service.filter_options().get("territory") or [], "territory")
    if user.role == "msl":
        if not user.territory:
            return html.Div([page_header("Worklist"), empty_state(
                "No territory", "Your user has no territory yet: ask an admin to set one."), ready_marker("worklist")])
        chooser = html.Div(f"Territory: {user.territory}", className="fw-semibold", id="worklist-territory-name")
        chosen = user.territory
    else:
        wanted = territory if isinstance(territory, str) and territory in options else user.territory
        chosen = wanted if wanted in options else (options[0] if options else None)
        chooser = dcc.Dropdown(id="worklist-territory-select", options=options, value=chosen, clearable=False)
    return html.Div([
        page_header("Worklist", "Today's suggested actions for a territory",
                    actions=dbc.Button("Export the week's plan (CSV)", id="worklist-export", color="primary",
                                       outline=True, size="sm")),
        dbc.Row([dbc.Col(chooser, md=4), dbc.Col(html.Div(id="worklist-usage", className="text-muted small pt-2"),
                                                  md=8)], className="g-2 mb-3 align-items-center"),
        dcc.Store(id="worklist-territory", data=chosen),
        dcc.Store(id="worklist-items"),
        dcc.Store(id="worklist-answered", data=0),
        dcc.Store(id="worklist-shown", data=CARDS_PER_PAGE),
        loading(html.Div(id="worklist-body")),
        dcc.Download(id="worklist-download"),
        dismiss_dialog("worklist", "Dismiss action"),
        dbc.Toast(id="worklist-toast", header="Worklist", is_open=False, dismissable=True, duration=4000,
                  icon="success", className="app-toast"),
        html.Div(id="worklist-ready-slot"),
    ])


# a brand manager's or admin's choice of territory goes to the store the other callbacks read
dash.clientside_callback("function(value) { return value; }", Output("worklist-territory", "data"),
                         Input("worklist-territory-select", "value"), prevent_initial_call=True)


@dash.callback(
    Output("worklist-body", "children"), Output("worklist-items", "data"), Output("worklist-usage", "children"),
    Output("worklist-ready-slot", "children"),
    Input("worklist-territory", "data"), Input("worklist-answered", "data"), Input("worklist-shown", "data"),
)
def load_worklist(territory, _answered, shown=CARDS_PER_PAGE):
    user = require_role(*ROLES)
    territory = territory_of(user, optional_text(territory, "worklist-territory.data", MAX_OPTION_CHARS))
    if not territory:
        return empty_state("No territory", "Choose a territory."), [], "", ready_marker("worklist")
    try:
        work = nba.service.worklist(territory)
    except Exception as exc:  # noqa: BLE001 - e.g. no bundle yet or an unknown territory: say so
        return error_alert(str(exc), "Worklist unavailable"), [], "", ready_marker("worklist")
    shown = shown if isinstance(shown, int) and not isinstance(shown, bool) and shown > 0 else CARDS_PER_PAGE
    body, items = worklist_body(work, shown)
    return body, items, usage_text(work), ready_marker("worklist")


@dash.callback(Output("worklist-shown", "data"), Input("worklist-more", "n_clicks"), State("worklist-shown", "data"),
               prevent_initial_call=True)
def show_more(clicked, shown):
    if not clicked:
        return no_update
    return (shown if isinstance(shown, int) and not isinstance(shown, bool) and shown > 0 else CARDS_PER_PAGE) \
        + CARDS_PER_PAGE


dismiss_callbacks(__name__, "worklist", ITEM_KEYS)


@dash.callback(
    Output("worklist-toast", "children"), Output("worklist-toast", "is_open"), Output("worklist-toast", "icon"),
    Output("worklist-answered", "data"), Output("worklist-dismiss-modal", "is_open", allow_duplicate=True),
    Input({"type": "worklist-accept", "index": ALL}, "n_clicks"),
    Input({"type": "worklist-snooze", "index": ALL}, "n_clicks"), Input("worklist-dismiss-confirm", "n_clicks"),
    State("worklist-items", "data"), State("worklist-pending", "data"), State("worklist-dismiss-reason", "value"),
    State("worklist-dismiss-text", "value"), State("worklist-answered", "data"),
    prevent_initial_call=True,
)
def answer(_accepts, _snoozes, _confirm, items, pending, reason, details, answered):
    user = require_role(*ROLES)
    trigger = ctx.triggered_id
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update, no_update, no_update
    items = records(items, "worklist-items.data", ITEM_KEYS)
    if trigger == "worklist-dismiss-confirm":
        dismissed = dismissal("worklist", pending, reason, details, len(items))
        if dismissed is None:
            return no_update, no_update, no_update, no_update, no_update
        (position, full_reason), action = dismissed, "dismiss"
    elif isinstance(trigger, dict) and trigger.get("type") in ("worklist-accept", "worklist-snooze"):
        action = "accept" if trigger["type"] == "worklist-accept" else "snooze"
        position, full_reason = index(trigger["index"], len(items), f"{trigger['type']}.index"), None
    else:
        return no_update, no_update, no_update, no_update, no_update
    item = items[position]
    try:
        stored = nba.service.record_feedback(item["hcp_id"], item["content_id"], item["channel"], action, full_reason,
                                             user.name)
    except Exception as exc:  # noqa: BLE001 - the user must know it was not saved
        return f"Not saved: {exc}", True, "danger", no_update, False
    return answer_message(stored), True, "success", int(answered or 0) + 1, False


@dash.callback(Output("worklist-download", "data"), Input("worklist-export", "n_clicks"),
               State("worklist-territory", "data"), prevent_initial_call=True)
def export_week(clicked, territory):
    user = require_role(*ROLES)
    territory = territory_of(user, optional_text(territory, "worklist-territory.data", MAX_OPTION_CHARS))
    if not clicked or not territory:
        return no_update
    return dict(content=nba.service.week_plan_csv(territory), type="text/csv",
                filename=f"week-plan-{territory}-{datetime.now():%Y%m%d}.csv".replace(" ", "-"))
