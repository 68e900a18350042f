"""HCP lookup: search-as-you-type over all HCPs in a server-side paged and sorted grid.

The query and the filters live in the URL (``/hcps?q=Levy&territory=West``): the page opens with
them, typing updates the address in place (no new history entry per keystroke), so the browser's
Back button and HCP 360's "Back to search" return to the same search. On a phone the grid shows
one card-like column (name, specialty, city and state, NPI) instead of eight columns.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.common import MAX_OPTION_CHARS, filter_choices, page_header, ready_marker
from components.tables import hcp_grid, npi_link, sort_from_model
from webapp.extensions import nba
from webapp.inputs import InvalidInput, optional_text, text


dash.register_page(__name__, path="/hcps", name="HCP lookup", title="HCP lookup · HCP NBA", order=1)

PAGE_SIZE = 50
#: Longest search text (the box stops typing there; the server refuses longer).
MAX_QUERY_CHARS = 200
#: The URL parameters of a search, in the order they are written.
URL_PARAMETERS = ("q", "territory", "segment")


def _url_value(value, max_chars: int) -> str | None:
    """A URL parameter as the page uses it: one short text (a repeated or overlong one is dropped)."""
    return value.strip() if isinstance(value, str) and value.strip() and len(value) <= max_chars else None


def layout(q=None, territory=None, segment=None, **_kwargs):
    options = nba.service.filter_options()
    territories = filter_choices(options.get("territory") or [], "territory")
    segments = filter_choices(options.get("segment") or [], "segment")
    territory = _url_value(territory, MAX_OPTION_CHARS)
    segment = _url_value(segment, MAX_OPTION_CHARS)
    return html.Div([
        page_header("HCP lookup", "Find an HCP by name, city, state, specialty or NPI, then open the 360 view"),
        dbc.Row([
            dbc.Col(dbc.InputGroup([
                dbc.InputGroupText("Search"),
                dbc.Input(id="hcps-search", type="search", debounce=0.3, autoComplete="off", autoFocus=True,
                          maxLength=MAX_QUERY_CHARS, value=_url_value(q, MAX_QUERY_CHARS) or "",
                          placeholder="Name, city, state or NPI: “Levy San Francisco”"),
            ]), lg=6, className="mb-2"),
            dbc.Col(dcc.Dropdown(id="hcps-territory", options=territories, placeholder="Any territory",
                                 value=territory if territory in territories else None), xs=6, lg=3,
                    className="mb-2"),
            dbc.Col(dcc.Dropdown(id="hcps-segment", options=segments, placeholder="Any segment",
                                 value=segment if segment in segments else None), xs=6, lg=3, className="mb-2"),
        ], className="g-2 mb-1"),
        html.Div(id="hcps-count", className="text-muted mb-2"),
        html.Div(id="hcps-grid-slot", className="hcps-grid-slot"),
        html.Div("Tap a row to open the HCP 360 view.", className="text-muted small mt-2"),
        dcc.Store(id="hcps-purged"),
        dcc.Store(id="hcps-url"),
        dcc.Store(id="hcps-grids", data={"phone": hcp_grid("hcps-grid", PAGE_SIZE, phone=True).to_plotly_json(),
                                         "desktop": hcp_grid("hcps-grid", PAGE_SIZE).to_plotly_json()}),
        dcc.Location(id="hcps-nav", refresh="callback-nav"),
        html.Div(id="hcps-ready-slot"),
    ])


def grid_block(query: str | None, request: dict, territory=None, segment=None) -> tuple[dict, int]:
    """One block of rows for the grid's request, from ``search_hcps`` (paging on the server).

    Raises
    ------
    webapp.inputs.InvalidInput
        A query too long, rows that are not whole numbers, or a sort the service refuses.
    """
    field = "hcps-grid.getRowsRequest"
    query = text(query, "hcps-search.value", MAX_QUERY_CHARS)
    territory = optional_text(territory, "hcps-territory.value", MAX_OPTION_CHARS)
    segment = optional_text(segment, "hcps-segment.value", MAX_OPTION_CHARS)
    start, end = request.get("startRow") or 0, request.get("endRow") or PAGE_SIZE
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) or not 0 <= start < end:
        raise InvalidInput(field, "startRow and endRow must be whole numbers with 0 ≤ startRow < endRow")
    sort_model = request.get("sortModel")
    if sort_model is not None and not (isinstance(sort_model, list)
                                       and all(isinstance(s, dict) and isinstance(s.get("colId"), str) for s in sort_model)):
        raise InvalidInput(field, "sortModel must be a list of {colId, sort}")
    page_size = end - start
    try:
        result = nba.service.search_hcps(query=query, sort=sort_from_model(sort_model), page=start // page_size,
                                         page_size=page_size, territory=territory, segment=segment)
    except ValueError as exc:  # the service names the bad sort column or page size
        raise InvalidInput(field, str(exc)) from None
    rows = [{**row, "npi_link": npi_link(row["hcp_id"])} for row in result["rows"]]
    return {"rowData": rows, "rowCount": result["total"]}, result["total"]


def count_text(total: int, query: str | None, territory: str | None, segment: str | None) -> str:
    """"12 HCPs match “Levy” in West, Core" (what the grid lists)."""
    noun = "HCP" if total == 1 else "HCPs"
    query = (query or "").strip()
    where = ", ".join(v for v in (territory, segment) if v)
    return f"{total:,} {noun}" + (f" match “{query}”" if query else "") + (f" in {where}" if where else "")


@dash.callback(
    Output("hcps-grid", "getRowsResponse"), Output("hcps-count", "children"), Output("hcps-ready-slot", "children"),
    Input("hcps-grid", "getRowsRequest"), State("hcps-search", "value"), State("hcps-territory", "value"),
    State("hcps-segment", "value"),
)
def load_rows(request, query, territory=None, segment=None):
    if not request:
        return no_update, no_update, no_update
    response, total = grid_block(query, request, territory, segment)
    return response, count_text(total, query, territory, segment), ready_marker("hcps")


# A new search or filter must drop the grid's cached blocks so it asks the server again from row 0.
dash.clientside_callback(
    """
    function(query, territory, segment, gridId) {
        const api = dash_ag_grid.getApi(gridId);
        if (api) { api.purgeInfiniteCache(); }
        return [query, territory, segment];
    }
    """,
    Output("hcps-purged", "data"),
    Input("hcps-search", "value"), Input("hcps-territory", "value"), Input("hcps-segment", "value"),
    State("hcps-grid", "id"),
    prevent_initial_call=True,
)

# The search lives in the address (replaced in place: Back leaves the page, not one keystroke) and in
# the tab's session storage, where HCP 360's "Back to search" finds it.
dash.clientside_callback(
    """
    function(query, territory, segment) {
        const params = new URLSearchParams();
        if (query && query.trim()) { params.set("q", query.trim()); }
        if (territory) { params.set("territory", territory); }
        if (segment) { params.set("segment", segment); }
        const search = params.toString() ? "?" + params.toString() : "";
        if (window.location.pathname === "/hcps" && window.location.search !== search) {
            window.history.replaceState(window.history.state, "", "/hcps" + search);
        }
        window.sessionStorage.setItem("nba-last-search", search);
        return search;
    }
    """,
    Output("hcps-url", "data"),
    Input("hcps-search", "value"), Input("hcps-territory", "value"), Input("hcps-segment", "value"),
)

# Phones get the grid with one card-like column (components/tables.py: HCP_CARD_COLUMNS): nothing hides
# sideways. The browser picks the grid before it mounts: a grid's row height cannot change once it runs.
dash.clientside_callback(
    "function(grids) { return window.innerWidth < 768 ? grids.phone : grids.desktop; }",
    Output("hcps-grid-slot", "children"), Input("hcps-grids", "data"),
)


@dash.callback(Output("hcps-nav", "href"), Input("hcps-grid", "cellClicked"), prevent_initial_call=True)
def open_hcp(cell):
    npi = cell.get("rowId") if isinstance(cell, dict) else None
    return f"/hcp/{npi}" if isinstance(npi, str) and npi.isdigit() and len(npi) <= 10 else no_update
