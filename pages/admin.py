"""Admin: retrain, model versions, reload / rollback, health, cache and audit log.

Admins only (``roles`` where the page registers), enforced on the server three times: the request
guard refuses a non-admin GET of ``/admin`` and any callback this module defines, ``layout()``
renders nothing for a non-admin, and every callback here starts with ``require_page_role``
(the retrain job, which runs outside any request, checks a ticket only an admin's request can sign).

Retraining is a Dash background callback (:mod:`webapp.jobs`): the job trains in its own process
(:func:`engine.retrain.retrain`) while the page polls its progress into a bar; the new version is
then offered for reload. Model quality is on the Models page, not here.
"""
from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.common import (MAX_OPTION_CHARS, empty_state, error_alert, filter_choices, loading, page_header,
                               ready_marker, section_card)
from components.formats import cache_name, count, day, duration, percent, store_name, version_time, when
from engine.retrain import RetrainError, read_state, retrain
from webapp.access import may_open, page_roles, refusal, require_page_role
from webapp.auth import current_user
from webapp.extensions import nba
from webapp.inputs import InvalidInput, optional_text, text
from webapp.jobs import read_ticket, sign_ticket
from webapp.layout import model_version_text

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/admin", name="Admin", title="Admin · HCP Next Best Action", order=90,
                   roles=("admin",))

AUDIT_LABELS = {"at": "When", "user_name": "User", "action": "Action", "from_version": "From", "to_version": "To",
                "result": "Result", "detail": "Detail"}
#: How often the page asks for the retrain's progress (milliseconds).
RETRAIN_POLL_MS = 1000
#: A bundle version name: "20261129-082047-abcdef" (the retrain's result is checked against it).
MAX_VERSION_CHARS = 64


def _field(label: str, value, id: str | None = None):
    props = {"id": id} if id else {}
    return [html.Dt(label, className="col-5 col-sm-4 fw-normal text-muted"),
            html.Dd(value, className="col-7 col-sm-8 mb-1", **props)]


def versions_table(versions: list[dict]):
    if not versions:
        return empty_state("No model versions yet", "Retrain above, or run python -m engine train.")
    rows = []
    for row in versions:
        status = []
        if row.get("serving"):
            status.append(dbc.Badge("serving", color="info", className="me-1"))
        if row.get("current"):
            status.append(dbc.Badge("newest", color="success", className="me-1"))
        problem = row.get("refused") or row.get("error")
        if problem:
            status.append(dbc.Badge("refused", color="danger", title=str(problem)))
        rows.append(html.Tr([html.Td(str(row.get("version")), className="font-monospace small text-break",
                                     **{"data-label": "Version"}),
                             html.Td(when(row.get("created")) if row.get("created") else version_time(row.get("version")),
                                     className="small", **{"data-label": "Created"}),
                             html.Td(status, **{"data-label": "Status"})]))
    return dbc.Table([html.Thead(html.Tr([html.Th("Version"), html.Th("Created"), html.Th("Status")])),
                      html.Tbody(rows)], hover=True, size="sm", className="mb-0 stack-table", id="admin-versions-grid")


def health_panel(health: dict):
    if not health:
        return html.P("No data.", className="text-muted mb-0")
    status = health.get("status", "unknown")
    color = {"ok": "success", "degraded": "warning"}.get(status, "danger")
    store = store_name(health.get("store_dialect")) + (
        ", reachable" if health.get("store") else f", unreachable: {health.get('store_error') or 'unknown error'}")
    cache = cache_name(health.get("cache_backend")) + (", working" if health.get("cache_ok") else ", not answering")
    served = health.get("version") or "none"
    pointer = health.get("pointer_version")
    model = served if not pointer or pointer == served else f"{served} (every worker is asked to serve {pointer})"
    return html.Dl([
        *_field("Status", dbc.Badge(status.upper() if status == "ok" else status.capitalize(), color=color), id="admin-health-status"),
        *_field("Store", store, id="admin-health-store"),
        *_field("Model", model, id="admin-health-model"),
        *_field("Cache", cache),
        *_field("Data", f"{count(health.get('hcps'))} HCPs, {count(health.get('contents'))} contents, "
                        f"up to {when(health.get('data_end'))} (version {health.get('data_version')})"),
        *_field("As of", f"{day(health.get('as_of'))}: the day rules and plans reason at"),
        *_field("Uptime", f"{duration(health.get('uptime_s'))} (this worker)", id="admin-health-uptime"),
    ], className="row mb-0 small")


def cache_panel(cache: dict):
    if not cache:
        return html.P("No data.", className="text-muted mb-0")
    lookups = (cache.get("hits") or 0) + (cache.get("misses") or 0)
    fields = [
        *_field("Backend", cache_name(cache.get("backend")) + ("" if cache.get("available", True) else " (down)")),
        *_field("Hit rate", f"{percent(cache.get('hit_rate'))} of {count(lookups)} lookups" if lookups
                else "no lookups yet"),
        *_field("In this worker", f"{count(cache.get('local_entries'))} answers kept in memory"),
        *_field("Errors", count(cache.get("errors"))),
        *_field("Answers kept for", duration(cache.get("timeout_s"))),
    ]
    if cache.get("last_error"):
        fields += _field("Last error", str(cache["last_error"]))
    return html.Dl(fields, className="row mb-0 small")


def audit_table(rows: list[dict]):
    if not rows:
        return empty_state("No admin actions yet", "Retrains, reloads and rollbacks are listed here; answers to "
                                                   "recommendations are on the Feedback page.")
    columns = [c for c in AUDIT_LABELS if any(r.get(c) not in (None, "") for r in rows)]
    body = [html.Tr([html.Td(when(r.get(c)) if c == "at" else (r.get(c) or "—"), className="text-break small",
                             **{"data-label": AUDIT_LABELS[c]}) for c in columns]) for r in rows]
    return dbc.Table([html.Thead(html.Tr([html.Th(AUDIT_LABELS[c]) for c in columns])), html.Tbody(body)],
                     size="sm", striped=True, className="mb-0 stack-table")


def _safe(call, fallback):
    """(value, error text): a failing service call becomes a message, not a broken page."""
    try:
        return call(), None
    except Exception as exc:  # noqa: BLE001 - shown to the admin, logged with the traceback
        log.exception("admin page: service call failed")
        return fallback, f"{type(exc).__name__}: {exc}"


def _panels():
    versions, versions_error = _safe(lambda: nba.service.versions(), [])
    health, health_error = _safe(lambda: nba.service.health(), {})
    cache, cache_error = _safe(lambda: nba.service.cache_status(), {})
    audit, audit_error = _safe(lambda: nba.service.audit_log(limit=100), [])
    options = filter_choices([v.get("version") for v in versions], "bundle version")
    return {
        "versions": [error_alert(versions_error, "Versions unavailable")] if versions_error else versions_table(versions),
        "options": options,
        "health": error_alert(health_error, "Health unavailable") if health_error else health_panel(health),
        "cache": error_alert(cache_error, "Cache status unavailable") if cache_error else cache_panel(cache),
        "audit": error_alert(audit_error, "Audit log unavailable") if audit_error else audit_table(audit),
    }


def last_retrain_text(state: dict | None) -> str:
    """One line on the last retrain of this host (shown when the page opens)."""
    if not state:
        return "No retrain from this page yet."
    who = f" by {state['user']}" if state.get("user") else ""
    if state["state"] == "running":
        return f"A retrain{who} is running since {when(state.get('started'))}: {state.get('percent', 0)}%."
    if state["state"] == "done":
        return f"Last retrain{who} finished {when(state.get('finished'))}: version {state.get('version')}."
    return f"Last retrain{who} failed {when(state.get('finished'))}: {state.get('error')}"


def retrain_card():
    state = read_state(nba.settings.var_dir)
    return section_card("Retrain", [
        html.P("Trains every model again on the data in the store (a few minutes on the demo world). The new "
               "version is then offered for reload; the current one keeps serving meanwhile.",
               className="text-muted small mb-2"),
        html.Div([dbc.Button("Retrain now", id="admin-retrain-btn", color="primary", className="me-3"),
                  html.Span(last_retrain_text(state), id="admin-retrain-last", className="small text-muted")],
                 className="d-flex flex-wrap align-items-center gap-2 mb-2"),
        dbc.Progress(id="admin-retrain-bar", value=0, label="", striped=True, animated=True,
                     style={"height": "1.4rem"}, className="mb-1"),
        html.Div(id="admin-retrain-stage", className="small text-muted mb-2"),
        html.Div(id="admin-retrain-result"),
        dcc.Store(id="admin-retrain-ticket"),
        dcc.Store(id="admin-retrain-version"),
    ], id="admin-retrain")


def layout(**_kwargs):
    if not may_open(__name__, current_user()):
        return empty_state(*refusal(page_roles(__name__)), icon="🔒")
    panels = _panels()
    actions = dbc.Button("Refresh", id="admin-refresh", color="secondary", outline=True, size="sm")
    controls = dbc.Row([
        dbc.Col(dcc.Dropdown(id="admin-version-select", options=panels["options"],
                             placeholder="Version to serve (default: newest)", clearable=True), md=6),
        dbc.Col([dbc.Button("Reload", id="admin-reload-btn", color="primary", className="me-2"),
                 dbc.Button("Roll back", id="admin-rollback-btn", color="warning")], md=6),
    ], className="g-2 mb-3 align-items-center")
    return html.Div([
        page_header("Admin", "Retrain, model versions, reload and rollback, health, cache and audit log.", actions),
        dcc.ConfirmDialog(id="admin-confirm-retrain", message="Train a new model version now? It takes a few "
                                                              "minutes; the current version keeps serving."),
        dcc.ConfirmDialog(id="admin-confirm-reload", message="Load the selected model version in every worker?"),
        dcc.ConfirmDialog(id="admin-confirm-rollback",
                          message="Roll back to the previous model version in every worker?"),
        retrain_card(),
        section_card("Model versions", [controls, loading(html.Div(id="admin-action-result")),
                                        loading(html.Div(panels["versions"], id="admin-versions"))],
                     subtitle="quality of each version: Models page"),
        dbc.Row([
            dbc.Col(section_card("Health", html.Div(panels["health"], id="admin-health")), lg=6),
            dbc.Col(section_card("Cache", html.Div(panels["cache"], id="admin-cache")), lg=6),
        ]),
        section_card("Audit log", html.Div(panels["audit"], id="admin-audit"), subtitle="latest 100"),
        ready_marker("admin"),
    ])


@dash.callback(Output("admin-confirm-reload", "displayed"), Input("admin-reload-btn", "n_clicks"), prevent_initial_call=True)
def confirm_reload(_n):
    require_page_role(__name__)
    return True


@dash.callback(Output("admin-confirm-rollback", "displayed"), Input("admin-rollback-btn", "n_clicks"), prevent_initial_call=True)
def confirm_rollback(_n):
    require_page_role(__name__)
    return True


@dash.callback(Output("admin-confirm-retrain", "displayed"), Input("admin-retrain-btn", "n_clicks"),
               prevent_initial_call=True)
def confirm_retrain(_n):
    require_page_role(__name__)
    return True


@dash.callback(Output("admin-retrain-ticket", "data"), Input("admin-confirm-retrain", "submit_n_clicks"),
               prevent_initial_call=True)
def issue_retrain_ticket(submitted):
    """The admin confirmed: sign who asked (the job runs outside any request and trusts only this)."""
    user = require_page_role(__name__)
    if not submitted:
        return no_update
    return sign_ticket({"action": "retrain", "user": user.name})


@dash.callback(
    Output("admin-retrain-version", "data"), Output("admin-retrain-result", "children"),
    Input("admin-retrain-ticket", "data"),
    background=True, interval=RETRAIN_POLL_MS,
    progress=[Output("admin-retrain-bar", "value"), Output("admin-retrain-bar", "label"),
              Output("admin-retrain-stage", "children")],
    running=[(Output("admin-retrain-btn", "disabled"), True, False)],
    prevent_initial_call=True,
)
def retrain_job(set_progress, ticket):
    """Train a new version (in a background process), reporting progress to the bar."""
    claim = read_ticket(ticket, "retrain")  # raises InvalidInput for anything an admin's request did not sign
    set_progress((0, "0%", "Starting…"))
    try:
        version = retrain(nba.settings, lambda p, message: set_progress((p, f"{p}%", message)), user=claim["user"])
    except RetrainError as exc:
        return {"user": claim["user"], "error": str(exc)}, error_alert(str(exc), "Retrain failed")
    offer = dbc.Alert([html.Strong("New version ready: "), html.Span(version, id="admin-retrain-new-version",
                                                                     className="font-monospace"),
                       html.Span(". Serve it in every worker now? ", className="me-2"),
                       dbc.Button("Review and reload", id="admin-retrain-serve", color="light", size="sm")],
                      color="success", className="mb-0")
    return {"user": claim["user"], "version": version}, offer


@dash.callback(
    Output("admin-versions", "children", allow_duplicate=True),
    Output("admin-version-select", "options", allow_duplicate=True),
    Output("admin-audit", "children", allow_duplicate=True),
    Output("admin-retrain-last", "children"),
    Input("admin-retrain-version", "data"),
    prevent_initial_call=True,
)
def retrain_finished(outcome):
    """Audit the finished retrain in the admin's request, and list the new version."""
    user = require_page_role(__name__)
    if not isinstance(outcome, dict):
        raise InvalidInput("admin-retrain-version.data", "expected the retrain's outcome")
    version = optional_text(outcome.get("version"), "admin-retrain-version.data", MAX_VERSION_CHARS)
    error = text(outcome.get("error"), "admin-retrain-version.data")
    nba.service.record_admin_action(user=user.name, role=user.role, action="retrain", to_version=version,
                                    result="ok" if version else f"failed: {error}")
    panels = _panels()
    return panels["versions"], panels["options"], panels["audit"], last_retrain_text(read_state(nba.settings.var_dir))


@dash.callback(
    Output("admin-version-select", "value"), Output("admin-confirm-reload", "displayed", allow_duplicate=True),
    Input("admin-retrain-serve", "n_clicks"), State("admin-retrain-version", "data"),
    prevent_initial_call=True,
)
def offer_reload(clicked, outcome):
    """"Review and reload": the new version is chosen and the reload dialog opens."""
    require_page_role(__name__)
    if not clicked or not isinstance(outcome, dict) or not outcome.get("version"):
        return no_update, no_update
    return optional_text(outcome["version"], "admin-retrain-version.data", MAX_VERSION_CHARS), True


@dash.callback(
    Output("admin-action-result", "children"),
    Output("admin-versions", "children"),
    Output("admin-version-select", "options"),
    Output("admin-health", "children"),
    Output("admin-cache", "children"),
    Output("admin-audit", "children"),
    Output("shell-version", "children", allow_duplicate=True),
    Input("admin-confirm-reload", "submit_n_clicks"),
    Input("admin-confirm-rollback", "submit_n_clicks"),
    Input("admin-refresh", "n_clicks"),
    State("admin-version-select", "value"),
    prevent_initial_call=True,
)
def admin_action(_reload, _rollback, _refresh, version):
    user = require_page_role(__name__)
    trigger = dash.ctx.triggered_id
    version = optional_text(version, "admin-version-select.value", MAX_OPTION_CHARS)
    result = no_update
    if trigger in ("admin-confirm-reload", "admin-confirm-rollback"):
        try:
            if trigger == "admin-confirm-reload":
                outcome = nba.service.reload(version, user=user.name, role=user.role)
            else:
                outcome = nba.service.rollback(user=user.name, role=user.role)
            if outcome.get("ok", True):
                verb = "Reloaded" if trigger == "admin-confirm-reload" else "Rolled back"
                served = html.Span(str(outcome.get("version")), id="admin-served-version", className="font-monospace")
                result = dbc.Alert([html.Strong(f"{verb}: "), "now serving ", served], color="success", dismissable=True)
            else:  # refused by the service (e.g. a broken bundle): the old version keeps serving
                result = error_alert(f'{outcome.get("result")}; still serving {outcome.get("version")}', "Not changed")
        except Exception as exc:  # noqa: BLE001 - e.g. a broken bundle refused: the old one keeps serving
            log.warning("admin %s by %s failed: %s", trigger, user.name, exc)
            result = error_alert(str(exc), "Not changed")
    panels = _panels()
    version_text = model_version_text()
    return result, panels["versions"], panels["options"], panels["health"], panels["cache"], panels["audit"], version_text
