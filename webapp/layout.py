"""The shell around every page: navbar (links by role), breadcrumbs, model version, user, logout."""
from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html

from webapp.access import match
from webapp.auth import csrf_token, current_user
from webapp.extensions import nba

log = logging.getLogger(__name__)

HIDDEN_FROM_NAV = ("/404",)


def nav_pages(role: str | None) -> list[dict]:
    """Registered pages the role may open (the ``roles`` they declare), in ``order``; path-template
    pages (HCP 360) excluded."""
    pages = []
    for page in dash.page_registry.values():
        if page.get("path_template") or page["path"] in HIDDEN_FROM_NAV:
            continue
        allowed = page.get("roles")
        if allowed is not None and role not in allowed:
            continue
        pages.append(page)
    return sorted(pages, key=lambda p: (p.get("order") if p.get("order") is not None else 999, p["name"]))


def breadcrumb_items(pathname: str | None) -> list[dict]:
    """``[{label, href, active}]`` for the pathname: Overview › Section › Item."""
    pathname = pathname or "/"
    home = {"label": "Overview", "href": "/", "active": pathname == "/"}
    if pathname == "/":
        return [home]
    for page in dash.page_registry.values():
        variables = match(page, pathname)
        if variables is None:
            continue
        if variables:  # an item page: link its section (HCP 360 -> HCP lookup)
            section = "/" + pathname.strip("/").split("/")[0]
            parent = next((p for p in dash.page_registry.values() if p["path"] == section + "s"), None)
            items = [home]
            if parent is not None:
                items.append({"label": parent["name"], "href": parent["path"], "active": False})
            label = f'{page["name"]} · {" ".join(str(v) for v in variables.values())}'
            return items + [{"label": label, "active": True}]
        return [home, {"label": page["name"], "active": True}]
    return [home, {"label": "Not found", "active": True}]


def model_version_text() -> str:
    """The badge text: the version this worker serves after following the shared pointer, so a
    reload done through another worker shows on the next navigation."""
    try:
        version = nba.service.current_version()
        return f"Model {version}" if version else "No model loaded"
    except Exception as exc:  # noqa: BLE001 - the shell must render even when no model can be served
        log.warning("shell: model version unavailable: %s", exc)
        return "No model loaded"


def as_of_text() -> str:
    """The day every page reasons at ("as of 27 Jun 2025"): rules, plans and "today" all use it."""
    try:
        return "as of " + pd.Timestamp(nba.service.as_of()).strftime("%d %b %Y")
    except Exception as exc:  # noqa: BLE001 - the shell must render even when the store is unreachable
        log.warning("shell: as-of day unavailable: %s", exc)
        return "as of —"


def navbar(user) -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact", id=f"nav-{page['path'].strip('/') or 'overview'}"))
        for page in nav_pages(user.role if user else None)
    ]
    right = []
    if user is not None:
        right = [
            # the day and the model, one above the other on a wide screen: the navbar keeps one line
            html.Div([
                dbc.Badge(as_of_text(), id="shell-as-of", color="warning", text_color="dark", pill=True,
                          title="The day rules and plans reason at"),
                dbc.Badge(model_version_text(), id="shell-version", color="light", text_color="primary",
                          className="version-badge", pill=True),
            ], className="shell-badges d-flex flex-lg-column align-items-lg-end gap-1"),
            html.Span(
                [html.Span(user.name, id="shell-user", className="fw-semibold"), dbc.Badge(user.role_label, id="shell-role", color="info", className="ms-2")],
                className="navbar-text text-white text-nowrap",
            ),
            # a POST with the CSRF token: a link (GET) could sign people out from another site
            html.Form([dcc.Input(type="hidden", name="csrf_token", value=csrf_token(), id="shell-logout-csrf"),
                       html.Button("Sign out", type="submit", id="shell-logout", className="btn btn-sm btn-outline-light")],
                      action="/logout", method="POST", className="d-inline m-0", id="shell-logout-form"),
        ]
    return dbc.Navbar(
        dbc.Container(
            [
                html.A([html.Span("NBA", className="brand-mark me-2"), html.Span("HCP Next Best Action", className="brand-name")], href="/", className="navbar-brand", id="shell-brand"),
                dbc.NavbarToggler(id="shell-nav-toggle", n_clicks=0),
                dbc.Collapse(
                    [dbc.Nav(links, navbar=True, className="me-auto", id="shell-nav"), html.Div(right, className="d-flex flex-wrap flex-lg-nowrap align-items-center gap-2 gap-lg-3 py-2 py-lg-0")],
                    id="shell-nav-collapse", navbar=True, is_open=False,
                ),
            ],
            fluid=True,
        ),
        color="primary", dark=True, className="shell-navbar mb-3", expand="lg",
    )


def shell_layout():
    """The app layout (a function: re-rendered per page load for the signed-in user)."""
    user = current_user()
    return html.Div(
        [
            navbar(user),
            dbc.Container(
                [
                    html.Nav(html.Ol(id="shell-breadcrumbs", className="breadcrumb mb-3"), **{"aria-label": "breadcrumb"}),
                    dash.page_container,
                ],
                fluid=True, className="shell-main pb-5",
            ),
            html.Footer(
                dbc.Container("HCP Next Best Action · recommendations are decision support; follow your compliance rules.", fluid=True),
                className="shell-footer text-muted small py-3",
            ),
        ],
        className="shell-root",
    )


def register_shell_callbacks(app: dash.Dash) -> None:
    @app.callback(Output("shell-breadcrumbs", "children"), Input("_pages_location", "pathname"))
    def _breadcrumbs(pathname):
        crumbs = []
        for item in breadcrumb_items(pathname):
            if item["active"]:
                crumbs.append(html.Li(item["label"], className="breadcrumb-item active", **{"aria-current": "page"}))
            else:
                crumbs.append(html.Li(dcc.Link(item["label"], href=item["href"]), className="breadcrumb-item"))
        return crumbs

    # Each navigation refreshes the badges, so a reload done elsewhere (or a new day) shows without a full reload.
    @app.callback(Output("shell-version", "children"), Output("shell-as-of", "children"),
                  Input("_pages_location", "pathname"), prevent_initial_call=True)
    def _version(_pathname):
        return model_version_text(), as_of_text()

    # The phone's menu opens and closes with its button, and closes when a page opens (in the browser:
    # no server round trip).
    app.clientside_callback(
        """
        function(_clicks, _pathname, isOpen) {
            const trigger = window.dash_clientside.callback_context.triggered_id;
            return trigger === "shell-nav-toggle" ? !isOpen : false;
        }
        """,
        Output("shell-nav-collapse", "is_open"), Input("shell-nav-toggle", "n_clicks"),
        Input("_pages_location", "pathname"), State("shell-nav-collapse", "is_open"), prevent_initial_call=True)
