"""Admin: model versions and their quality, reload / rollback, health, cache and audit log.

Admins only, enforced on the server three times: the request guard refuses a non-admin GET of
``/admin`` and any callback writing to an ``admin-`` component, ``layout()`` renders nothing
for a non-admin, and every callback here starts with ``require_role("admin")``.
"""
from __future__ import annotations

import logging
from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.common import MAX_OPTION_CHARS, empty_state, error_alert, filter_choices, loading, page_header, ready_marker, section_card
from webapp.auth import current_user, require_role
from webapp.extensions import nba
from webapp.inputs import optional_text
from webapp.layout import model_version_text

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/admin", name="Admin", title="Admin · HCP Next Best Action", order=90)

#: (label, key in a version row's ``metrics``) shown for each bundle version.
VERSION_METRICS = (("Hybrid NDCG@10", "ndcg@10"), ("NDCG vs oracle", "ndcg_vs_oracle"), ("Recall@10", "recall@10"), ("Engagement AUC", "engagement_auc"))
AUDIT_COLUMNS = ("at", "user_name", "action", "from_version", "to_version", "result", "detail")
AUDIT_LABELS = {"at": "When", "user_name": "User", "from_version": "From", "to_version": "To"}


def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (dict, list)):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) if isinstance(value, dict) else ", ".join(map(_text, value))
    return str(value)


def versions_table(versions: list[dict]):
    if not versions:
        return empty_state("No model versions yet", "Train a bundle (python -m engine train) to see it here.")
    header = html.Thead(html.Tr([html.Th("Version"), html.Th("Created")] + [html.Th(label) for label, _ in VERSION_METRICS] + [html.Th("Status")]))
    body = []
    for row in versions:
        status = []
        if row.get("current"):
            status.append(dbc.Badge("current", color="success", className="me-1"))
        if row.get("serving"):
            status.append(dbc.Badge("serving", color="info", className="me-1"))
        problem = row.get("refused") or row.get("error")
        if problem:
            status.append(dbc.Badge("refused", color="danger", title=str(problem)))
        body.append(
            html.Tr(
                [html.Td(_text(row.get("version")), className="font-monospace"), html.Td(_text(row.get("created")))]
                + [html.Td(_text((row.get("metrics") or {}).get(key))) for _, key in VERSION_METRICS]
                + [html.Td(status)]
            )
        )
    return dbc.Table([header, html.Tbody(body)], hover=True, size="sm", responsive=True, className="mb-0", id="admin-versions-grid")


def key_value_list(data: dict):
    if not data:
        return html.P("No data.", className="text-muted mb-0")
    return html.Dl(
        [item for key, value in data.items() for item in (html.Dt(str(key).replace("_", " ").capitalize(), className="col-sm-5"), html.Dd(_text(value), className="col-sm-7 mb-1"))],
        className="row mb-0 small",
    )


def audit_table(rows: list[dict]):
    if not rows:
        return empty_state("No admin actions yet", "Reloads, rollbacks and feedback are listed here.")
    columns = [c for c in AUDIT_COLUMNS if any(c in r for r in rows)] or sorted({k for r in rows for k in r})
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(AUDIT_LABELS.get(c, c.replace("_", " ").capitalize())) for c in columns])), html.Tbody([html.Tr([html.Td(_text(r.get(c))) for c in columns]) for r in rows])],
        size="sm", striped=True, responsive=True, className="mb-0",
    )


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
        "health": error_alert(health_error, "Health unavailable") if health_error else key_value_list(health),
        "cache": error_alert(cache_error, "Cache status unavailable") if cache_error else key_value_list(cache),
        "audit": error_alert(audit_error, "Audit log unavailable") if audit_error else audit_table(audit),
    }


def layout(**_kwargs):
    user = current_user()
    if user is None or user.role != "admin":
        return empty_state("Admins only", "This page needs the admin role.", icon="🔒")
    panels = _panels()
    actions = dbc.Button("Refresh", id="admin-refresh", color="secondary", outline=True, size="sm")
    controls = dbc.Row(
        [
            dbc.Col(dcc.Dropdown(id="admin-version-select", options=panels["options"], placeholder="Version to serve (default: newest)", clearable=True), md=6),
            dbc.Col(
                [
                    dbc.Button("Reload", id="admin-reload-btn", color="primary", className="me-2"),
                    dbc.Button("Roll back", id="admin-rollback-btn", color="warning"),
                ],
                md=6,
            ),
        ],
        className="g-2 mb-3 align-items-center",
    )
    return html.Div(
        [
            page_header("Admin", "Model versions, reload and rollback, health, cache and audit log.", actions),
            dcc.ConfirmDialog(id="admin-confirm-reload", message="Load the selected model version in every worker?"),
            dcc.ConfirmDialog(id="admin-confirm-rollback", message="Roll back to the previous model version in every worker?"),
            section_card(
                "Model versions",
                [controls, loading(html.Div(id="admin-action-result")), loading(html.Div(panels["versions"], id="admin-versions"))],
            ),
            dbc.Row(
                [
                    dbc.Col(section_card("Health", html.Div(panels["health"], id="admin-health")), lg=6),
                    dbc.Col(section_card("Cache", html.Div(panels["cache"], id="admin-cache")), lg=6),
                ]
            ),
            section_card("Audit log", html.Div(panels["audit"], id="admin-audit"), subtitle="latest 100"),
            ready_marker("admin"),
        ]
    )


@dash.callback(Output("admin-confirm-reload", "displayed"), Input("admin-reload-btn", "n_clicks"), prevent_initial_call=True)
def confirm_reload(_n):
    require_role("admin")
    return True


@dash.callback(Output("admin-confirm-rollback", "displayed"), Input("admin-rollback-btn", "n_clicks"), prevent_initial_call=True)
def confirm_rollback(_n):
    require_role("admin")
    return True


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
    user = require_role("admin")
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
