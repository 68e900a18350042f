"""Suggested actions as cards (HCP 360, worklist): readable on a 390 px phone, nothing sideways.

One card per action: what to send (the title, a link to the content's page, at most three lines),
through which channel, one percentage with what it means, the reasons, and the answer buttons.
Rule notes that hold for the HCP (an opted-out channel, a reached cap) are said once above the
cards, not on every card; a cheaper channel chosen for its cost is said on its own card. All data
and user text is rendered as plain text.
"""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.content import content_href
from components.formats import day
from components.hcp import channel_badge
from engine.config import channel_label


def likelihood(probability: float, channel: str) -> html.Span:
    """"38% likely to engage, by email": the one percentage an action shows, and what it is."""
    p = float(probability)
    shown = ">99%" if p >= 0.995 else "<1%" if p < 0.005 else f"{p:.0%}"  # a model is never quite sure
    return html.Span([html.Strong(shown), f" likely to engage, by {channel_label(channel).lower()}"],
                     className="action-likelihood",
                     title="The chance this HCP opens, clicks or attends when sent this content on this channel")


def shared_notes(actions: list[dict]) -> list[str]:
    """Rule notes in the order first seen, each once (they are about the HCP, not one action)."""
    return list(dict.fromkeys(note for a in actions for note in a.get("rule_notes") or []))


def notes_block(notes: list[str], id: str | None = None) -> html.Div | None:
    """The HCP's rule notes, said once ("Rules for this HCP: ...")."""
    if not notes:
        return None
    props = {"id": id} if id else {}
    return dbc.Alert([html.Strong("Rules for this HCP: "), "; ".join(notes)], color="warning",
                     className="small py-2 mb-3 action-notes", **props)


def answer_buttons(id_prefix: str, key: str, snooze: bool = False) -> html.Div:
    """Accept / Dismiss (/ Snooze) of one action: ids ``{"type": f"{id_prefix}-accept"|..., "index": key}``."""
    buttons = [dbc.Button("Accept", id={"type": f"{id_prefix}-accept", "index": key}, size="sm", color="success"),
               dbc.Button("Dismiss", id={"type": f"{id_prefix}-dismiss", "index": key}, size="sm",
                          color="secondary", outline=True)]
    if snooze:
        buttons.insert(1, dbc.Button("Snooze", id={"type": f"{id_prefix}-snooze", "index": key}, size="sm",
                                     color="secondary", outline=True, title="Suggest it again in a week"))
    return html.Div(buttons, className="d-flex flex-wrap gap-2")


def answer_message(answer: dict) -> str:
    """What the toast says once an answer is stored, from the item's state as the service returns it
    (so the dates are the service's rules): what happens to the item and until when, then its title,
    last and quoted as text (a title that ends in a full stop gets no second one)."""
    said = {"accept": f"Accepted, planned for {day(answer.get('planned_for'))}",
            "snooze": f"Snoozed until {day(answer.get('rests_until'))}",
            "dismiss": f"Dismissed until {day(answer.get('rests_until'))}, the reason was recorded"}[answer["action"]]
    return f"{said}: “{answer.get('title') or answer['content_id']}”"


def action_card(action: dict, key: str, id_prefix: str, number: int | str | None = None, hcp=None,
                snooze: bool = False, state: str | None = None) -> dbc.Card:
    """One suggested action as a card.

    Parameters
    ----------
    action : content_id, title, channel; optional engagement_probability, reasons, date, cost_note
        (why a cheaper channel than the most engaging one: said on its card, being about this item).
    key : the ``index`` of its buttons (the page keeps what it stands for).
    hcp : a component naming the HCP (worklist), or None (HCP 360: the page is the HCP's).
    state : an answer already given ("Accepted · planned 02 Dec"): shown instead of the buttons.
    """
    reasons = action.get("reasons") or []
    head = [html.Span(str(number), className="action-number me-2") if number is not None else None,
            dcc.Link(action.get("title") or action["content_id"], href=content_href(action["content_id"]),
                     className="action-title clamp-3", title=action.get("title") or "")]
    facts = [channel_badge(action["channel"])]
    if action.get("engagement_probability") is not None:
        facts.append(likelihood(action["engagement_probability"], action["channel"]))
    if action.get("date"):
        facts.insert(0, html.Span(day(action["date"]), className="action-date me-2"))
    body = [
        html.Div(hcp, className="action-hcp mb-1") if hcp is not None else None,
        html.Div([h for h in head if h is not None], className="d-flex align-items-start mb-2"),
        html.Div(facts, className="d-flex flex-wrap align-items-center gap-1 mb-2"),
        html.Div(action["cost_note"], className="action-cost small text-muted mb-2") if action.get("cost_note")
        else None,
        html.Ul([html.Li(r, className="fw-semibold" if i == 0 else None) for i, r in enumerate(reasons[:3])],
                className="action-reasons small mb-2 ps-3") if reasons else None,
        html.Div(state, className="action-state small text-success fw-semibold") if state
        else answer_buttons(id_prefix, key, snooze),
    ]
    return dbc.Card(dbc.CardBody([b for b in body if b is not None]), className="action-card h-100 shadow-sm",
                    id={"type": f"{id_prefix}-card", "index": key})


def action_grid(cards: list, id: str) -> html.Div:
    """Cards one per row on a phone, two side by side on a wide screen."""
    return html.Div(dbc.Row([dbc.Col(card, xs=12, xl=6, className="mb-3") for card in cards], className="g-3"), id=id)
