"""The dialog that asks why a suggested action is dismissed, shared by the worklist and HCP 360.

:func:`dismiss_dialog` lays it out (ids ``<prefix>-dismiss-*``; the position of the item waiting for
an answer is kept in ``<prefix>-pending``). :func:`dismiss_callbacks`, called once by the page module
(whose roles they carry), registers what it does on its own: a card's Dismiss button (``{"type":
"<prefix>-dismiss", "index": position}``) opens it on the item at that position of ``<prefix>-items``,
Cancel closes it, and its Dismiss button waits for a reason. The page's answer callback turns the
dialog's fields into the stored reason with :func:`dismissal`.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from webapp.inputs import InvalidInput, index, records, text

#: Reasons offered when dismissing a recommendation (free text can add detail).
DISMISS_REASONS = [
    "Already discussed with HCP", "Not relevant to HCP's practice", "Wrong channel for this HCP",
    "Timing not right", "Content outdated", "Other",
]

#: Longest free-text detail kept with a dismissal.
MAX_DETAILS_CHARS = 500


def dismiss_dialog(prefix: str, title: str) -> html.Div:
    """The dialog and its pending-item store."""
    return html.Div([
        dcc.Store(id=f"{prefix}-pending"),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle(title)),
            dbc.ModalBody([
                html.Div(id=f"{prefix}-dismiss-title", className="fw-semibold mb-3"),
                dbc.Label("Reason", html_for=f"{prefix}-dismiss-reason"),
                dcc.Dropdown(id=f"{prefix}-dismiss-reason", options=DISMISS_REASONS,
                             placeholder="Choose a reason…", clearable=False, className="mb-3"),
                dbc.Label("Details (optional)", html_for=f"{prefix}-dismiss-text"),
                dbc.Textarea(id=f"{prefix}-dismiss-text", maxLength=MAX_DETAILS_CHARS,
                             placeholder="Anything the brand team should know"),
            ]),
            dbc.ModalFooter([dbc.Button("Cancel", id=f"{prefix}-dismiss-cancel", color="link"),
                             dbc.Button("Dismiss", id=f"{prefix}-dismiss-confirm", color="danger", disabled=True)]),
        ], id=f"{prefix}-dismiss-modal", is_open=False),
    ])


def dismissal(prefix: str, pending, reason, details, size: int) -> tuple[int, str] | None:
    """``(position, stored reason)`` of the dialog's answer; None while it has no item or no reason.

    Raises :class:`webapp.inputs.InvalidInput` for a reason that was not offered, a position outside
    the ``size`` listed items, or details that are not text or too long.
    """
    if pending is None or not reason:
        return None
    if reason not in DISMISS_REASONS:
        raise InvalidInput(f"{prefix}-dismiss-reason.value", "not one of the offered reasons")
    position = index(pending, size, f"{prefix}-pending.data")
    details = text(details, f"{prefix}-dismiss-text.value", MAX_DETAILS_CHARS)
    return position, f"{reason}: {details}" if details else reason


def dismiss_callbacks(page: str, prefix: str, item_keys: tuple[str, ...]) -> None:
    """Register the dialog's own callbacks for the page module ``page`` (they carry its roles:
    :func:`webapp.access.callback_roles` reads a callback's module); ``item_keys`` are the fields every
    item of ``<prefix>-items`` must have."""

    def open_dismiss(_clicks, _cancel, items):
        trigger = ctx.triggered_id
        if trigger == f"{prefix}-dismiss-cancel":
            return False, None, no_update, no_update, no_update
        if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
            return no_update, no_update, no_update, no_update, no_update  # buttons just rendered, not clicked
        items = records(items, f"{prefix}-items.data", item_keys)
        position = index(trigger["index"], len(items), f"{prefix}-dismiss.index")
        item = items[position]
        what = [html.Div(item.get("title") or item["content_id"])]
        if item.get("hcp_name"):  # the worklist's actions are for many HCPs: say whose it is
            what.append(html.Div(f"For {item['hcp_name']}", className="text-muted small fw-normal mt-1"))
        return True, position, what, None, ""

    def need_reason(reason):
        return not reason

    open_dismiss.__module__ = need_reason.__module__ = page
    dash.callback(
        Output(f"{prefix}-dismiss-modal", "is_open"), Output(f"{prefix}-pending", "data"),
        Output(f"{prefix}-dismiss-title", "children"), Output(f"{prefix}-dismiss-reason", "value"),
        Output(f"{prefix}-dismiss-text", "value"),
        Input({"type": f"{prefix}-dismiss", "index": ALL}, "n_clicks"), Input(f"{prefix}-dismiss-cancel", "n_clicks"),
        State(f"{prefix}-items", "data"),
        prevent_initial_call=True,
    )(open_dismiss)
    dash.callback(Output(f"{prefix}-dismiss-confirm", "disabled"),
                  Input(f"{prefix}-dismiss-reason", "value"))(need_reason)
