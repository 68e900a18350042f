"""HCP lookup: search-as-you-type over all HCPs in a server-side paged and sorted grid."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.common import page_header, ready_marker
from components.tables import hcp_grid, npi_link, sort_from_model
from webapp.extensions import nba
from webapp.inputs import InvalidInput, text


dash.register_page(__name__, path="/hcps", name="HCP lookup", title="HCP lookup · HCP NBA", order=1)

PAGE_SIZE = 50
#: Longest search text (the box stops typing there; the server refuses longer).
MAX_QUERY_CHARS = 200


def layout(**_kwargs):
    return html.Div([
        page_header("HCP lookup", "Find an HCP by name, NPI, city or specialty, then open the 360 view"),
        dbc.Row([
            dbc.Col(dbc.InputGroup([
                dbc.InputGroupText("Search"),
                dbc.Input(id="hcps-search", type="search", debounce=0.3, autoComplete="off", autoFocus=True,
                          maxLength=MAX_QUERY_CHARS, placeholder="Search by name, NPI, city or specialty…"),
            ]), lg=6),
            dbc.Col(html.Div(id="hcps-count", className="text-muted pt-2 text-lg-end"), lg=6),
        ], className="mb-3"),
        hcp_grid("hcps-grid", page_size=PAGE_SIZE),
        html.Div("Click a row to open the HCP 360 view.", className="text-muted small mt-2"),
        dcc.Store(id="hcps-purged"),
        dcc.Location(id="hcps-nav", refresh="callback-nav"),
        html.Div(id="hcps-ready-slot"),
    ])


def grid_block(query: str | None, request: dict) -> tuple[dict, int]:
    """One block of rows for the grid's request, from ``search_hcps`` (paging on the server).

    Raises
    ------
    webapp.inputs.InvalidInput
        A query too long, rows that are not whole numbers, or a sort the service refuses.
    """
    field = "hcps-grid.getRowsRequest"
    query = text(query, "hcps-search.value", MAX_QUERY_CHARS)
    start, end = request.get("startRow") or 0, request.get("endRow") or PAGE_SIZE
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) or not 0 <= start < end:
        raise InvalidInput(field, "startRow and endRow must be whole numbers with 0 ≤ startRow < endRow")
    sort_model = request.get("sortModel")
    if sort_model is not None and not (isinstance(sort_model, list)
                                       and all(isinstance(s, dict) and isinstance(s.get("colId"), str) for s in sort_model)):
        raise InvalidInput(field, "sortModel must be a list of {colId, sort}")
    page_size = end - start
    try:
        result = nba.service.search_hcps(query=query, sort=sort_from_model(sort_model),
                                         page=start // page_size, page_size=page_size)
    except ValueError as exc:  # the service names the bad sort column or page size
        raise InvalidInput(field, str(exc)) from None
    rows = [{**row, "npi_link": npi_link(row["hcp_id"])} for row in result["rows"]]
    return {"rowData": rows, "rowCount": result["total"]}, result["total"]


@dash.callback(
    Output("hcps-grid", "getRowsResponse"), Output("hcps-count", "children"), Output("hcps-ready-slot", "children"),
    Input("hcps-grid", "getRowsRequest"), State("hcps-search", "value"),
)
def load_rows(request, query):
    if not request:
        return no_update, no_update, no_update
    response, total = grid_block(query, request)
    noun = "HCP" if total == 1 else "HCPs"
    query = query.strip() if query else ""
    return response, f"{total:,} {noun}" + (f" match “{query}”" if query else ""), ready_marker("hcps")


# A new search must drop the grid's cached blocks so it asks the server again from row 0.
dash.clientside_callback(
    """
    function(query, gridId) {
        const api = dash_ag_grid.getApi(gridId);
        if (api) { api.purgeInfiniteCache(); }
        return query;
    }
    """,
    Output("hcps-purged", "data"),
    Input("hcps-search", "value"), State("hcps-grid", "id"),
    prevent_initial_call=True,
)


@dash.callback(Output("hcps-nav", "href"), Input("hcps-grid", "cellClicked"), prevent_initial_call=True)
def open_hcp(cell):
    npi = cell.get("rowId") if isinstance(cell, dict) else None
    return f"/hcp/{npi}" if isinstance(npi, str) and npi.isdigit() and len(npi) <= 10 else no_update
