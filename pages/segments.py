"""Segments & targets: the brand view of segments and a target-list builder with CSV export."""
from __future__ import annotations

from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from components.common import error_alert, filter_choices, loading, page_header, ready_marker, section_card
from components.tables import data_grid, npi_link, simple_table
from components.theme import channel_label
from engine.config import CHANNELS
from webapp.auth import require_role
from webapp.extensions import nba
from webapp.inputs import InvalidInput, number, optional_text

dash.register_page(__name__, path="/segments", name="Segments", title="Segments & targets · HCP NBA", order=5)

PREVIEW_ROWS = 200
#: Rows of one CSV export, best first: each row's reasons cost a scoring pass (~1 ms), so an export
#: stays well inside a request's time limit.
MAX_TARGETS = 10_000

TARGET_COLUMNS = [
    {"field": "npi_link", "headerName": "NPI", "cellRenderer": "markdown", "minWidth": 120},
    {"field": "name", "headerName": "Name", "minWidth": 160},
    {"field": "specialty", "headerName": "Specialty", "minWidth": 160},
    {"field": "state", "headerName": "State", "maxWidth": 90},
    {"field": "segment", "headerName": "Segment"},
    {"field": "title", "headerName": "Next best content", "minWidth": 260, "flex": 2, "tooltipField": "title"},
    {"field": "channel_label", "headerName": "Channel"},
    {"field": "engagement_probability", "headerName": "Engagement", "type": "numericColumn", "minWidth": 130,
     "valueFormatter": {"function": "d3.format('.0%')(params.value)"}},
]


def segment_rows(segments: list[dict]) -> list[dict]:
    """Service segment rows (with their ``top_content``) -> display rows (plain text cells)."""
    out = []
    for seg in segments:
        top = [t.get("title") or t["content_id"] for t in seg.get("top_content") or []]
        out.append({
            "Segment": seg["segment"], "HCPs": f"{int(seg['hcps']):,}",
            "Touches per HCP": f"{float(seg.get('touches_per_hcp') or 0):.1f}",
            "Engagement rate": f"{float(seg.get('engagement_rate') or 0):.1%}",
            "Top specialty": seg.get("top_specialty") or "—",
            "Top recommended content": html.Ol([html.Li(t) for t in top], className="mb-0 ps-3 small")
            if top else "—",
        })
    return out


def target_filters(segment, specialty, state, channel, min_probability) -> dict:
    """The builder's widget values as ``target_list`` keyword arguments (blank = any).

    Raises
    ------
    webapp.inputs.InvalidInput
        A value of the wrong type or length, or a probability outside [0, 1] (answered 400).
    """
    channel = optional_text(channel, "segments-channel.value")
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput("segments-channel.value", f"not one of the channels {', '.join(CHANNELS)}")
    return {"segment": optional_text(segment, "segments-segment.value"),
            "specialty": optional_text(specialty, "segments-specialty.value"),
            "state": optional_text(state, "segments-state.value"), "channel": channel,
            "min_probability": number(min_probability, "segments-minp.value", 0.0, 1.0, default=0.0)}


def layout(**_kwargs):
    service = nba.service
    options, segments = service.filter_options(), service.segments()
    builder = dbc.Row([
        dbc.Col([dbc.Label("Segment", html_for="segments-segment"),
                 dcc.Dropdown(id="segments-segment", options=filter_choices(options.get("segment") or [], "segment"), placeholder="Any")], lg=2),
        dbc.Col([dbc.Label("Specialty", html_for="segments-specialty"),
                 dcc.Dropdown(id="segments-specialty", options=filter_choices(options.get("specialty") or [], "specialty"), placeholder="Any")],
                lg=3),
        dbc.Col([dbc.Label("State", html_for="segments-state"),
                 dcc.Dropdown(id="segments-state", options=filter_choices(options.get("state") or [], "state"), placeholder="Any")], lg=2),
        dbc.Col([dbc.Label("Channel", html_for="segments-channel"),
                 dcc.Dropdown(id="segments-channel", placeholder="Any",
                              options=[{"label": channel_label(c), "value": c} for c in CHANNELS])], lg=2),
        dbc.Col([dbc.Label("Min. engagement probability", html_for="segments-minp"),
                 dcc.Slider(id="segments-minp", min=0, max=0.9, step=0.05, value=0,
                            marks={0: "0%", 0.3: "30%", 0.6: "60%", 0.9: "90%"},
                            tooltip={"placement": "bottom"})], lg=3),
    ], className="g-3 mb-3")
    return html.Div([
        page_header("Segments & targets", "Who to reach next, with what and through which channel"),
        section_card("Segments", simple_table(segment_rows(segments), empty="No segments defined",
                                              id="segments-table")),
        section_card("Target-list builder", [
            builder,
            html.Div([html.Span(id="segments-count", className="text-muted me-3"),
                      dbc.Button("Export CSV", id="segments-export", color="primary", className="ms-auto",
                                 title=f"The best {MAX_TARGETS:,} rows, with each action's reasons")],
                     className="d-flex align-items-center mb-2"),
            loading(data_grid("segments-preview", [], TARGET_COLUMNS, height=440)),
            dcc.Download(id="segments-download"),
        ], subtitle="each HCP's best eligible content and channel from the served model"),
        html.Div(id="segments-ready-slot"),
    ])


FILTERS = ("segments-segment", "segments-specialty", "segments-state", "segments-channel", "segments-minp")


@dash.callback(
    Output("segments-preview", "rowData"), Output("segments-count", "children"), Output("segments-ready-slot", "children"),
    *[Input(f, "value") for f in FILTERS],
)
def preview(segment, specialty, state, channel, min_probability):
    filters = target_filters(segment, specialty, state, channel, min_probability)
    try:
        shown = nba.service.target_list(n=PREVIEW_ROWS, **filters)
        total = nba.service.target_count(**filters)
    except Exception as exc:  # noqa: BLE001 - e.g. no bundle: the builder says why
        return [], error_alert(str(exc), "Target list unavailable"), ready_marker("segments")
    for row in shown:
        row.update(channel_label=channel_label(row["channel"]), npi_link=npi_link(row["hcp_id"]))
    note = f"showing the first {PREVIEW_ROWS:,}" if total > PREVIEW_ROWS else "all shown"
    return shown, f"{total:,} HCPs in this target list ({note})", ready_marker("segments")


@dash.callback(
    Output("segments-download", "data"),
    Input("segments-export", "n_clicks"), *[State(f, "value") for f in FILTERS],
    prevent_initial_call=True,
)
def export_csv(_clicks, segment, specialty, state, channel, min_probability):
    require_role("admin", "brand_manager", "msl")
    csv_text = nba.service.target_list_csv(n=MAX_TARGETS, **target_filters(segment, specialty, state, channel,
                                                                           min_probability))
    return dict(content=csv_text, filename=f"target-list-{datetime.now():%Y%m%d-%H%M}.csv",
                type="text/csv")
