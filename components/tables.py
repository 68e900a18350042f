"""Tables: small static tables, client-side grids, and the server-side paged HCP grid."""
from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from components.common import empty_state


def simple_table(rows: list[dict], empty: str = "Nothing to show", columns: list[str] | None = None,
                 id: str | None = None) -> html.Div | dbc.Table:
    """A compact striped table of plain-text cells; a friendly empty state when there are no rows.

    On a phone each row stacks into label: value lines (``stack-table``, assets/10_app.css), so a wide
    table never scrolls sideways."""
    if not rows:
        return empty_state(empty)
    columns = columns or list(rows[0])
    head = html.Thead(html.Tr([html.Th(c) for c in columns]))
    body = html.Tbody([html.Tr([html.Td(_cell(r.get(c)), **{"data-label": c}) for c in columns]) for r in rows])
    kwargs = {"id": id} if id else {}
    return dbc.Table([head, body], striped=True, hover=True, size="sm", className="mb-0 align-middle stack-table",
                     **kwargs)


def _cell(value):
    """Plain text, or a component the caller built (e.g. an external link)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return value if not isinstance(value, (int, str)) else str(value)


def data_grid(id: str, rows: list[dict], columns: list[dict], height: int = 420, **kwargs) -> dag.AgGrid:
    """A client-side sortable/filterable grid for a bounded set of rows (previews, metric tables)."""
    return dag.AgGrid(
        id=id, rowData=rows, columnDefs=columns, className="ag-theme-alpine",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, "minWidth": 90},
        columnSize="responsiveSizeToFit", style={"height": f"{height}px", "width": "100%"},
        dashGridOptions={"animateRows": False, "localeText": {"noRowsToShow": "No rows match these filters"}},
        **kwargs)


#: Columns of the HCP lookup grid (``field`` = key in ``search_hcps`` rows).
HCP_GRID_COLUMNS = [
    {"field": "npi_link", "headerName": "NPI", "cellRenderer": "markdown", "minWidth": 120},
    {"field": "name", "headerName": "Name", "minWidth": 170},
    {"field": "specialty", "headerName": "Specialty", "minWidth": 170},
    {"field": "city", "headerName": "City", "minWidth": 120},
    {"field": "state", "headerName": "State", "maxWidth": 90},
    {"field": "territory", "headerName": "Territory", "minWidth": 110},
    {"field": "segment", "headerName": "Segment", "minWidth": 100},
    {"field": "touches", "headerName": "Touches", "type": "numericColumn", "maxWidth": 120},
    {"field": "engagement_rate", "headerName": "Engagement", "type": "numericColumn", "maxWidth": 140,
     "valueFormatter": {"function": "params.value == null ? '' : d3.format('.0%')(params.value)"}},
]
#: The same grid on a phone: one column whose cell is a small card (assets/dashAgGridComponentFunctions.js:
#: name, specialty, city and state, NPI and segment), so nothing hides sideways at 390 px.
HCP_CARD_COLUMNS = [
    {"field": "name", "headerName": "HCP", "cellRenderer": "HcpCard", "flex": 1,
     "sortable": True, "resizable": False},
]


#: Row height of the HCP grid on a phone: its card cells hold three lines.
PHONE_ROW_HEIGHT = 76


def hcp_grid(id: str, page_size: int = 50, height: int = 560, phone: bool = False) -> dag.AgGrid:
    """The server-side paged, sorted grid over all HCPs (rows arrive through ``getRowsResponse``);
    ``phone``: one card column (:data:`HCP_CARD_COLUMNS`) in taller rows."""
    options = {"cacheBlockSize": page_size, "maxBlocksInCache": 20, "infiniteInitialRowCount": page_size,
               "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
               "localeText": {"noRowsToShow": "No HCP matches this search"}, "suppressCellFocus": True}
    return dag.AgGrid(
        id=id, rowModelType="infinite", columnDefs=HCP_CARD_COLUMNS if phone else HCP_GRID_COLUMNS,
        className="ag-theme-alpine", defaultColDef={"sortable": True, "resizable": True, "filter": False},
        columnSize="responsiveSizeToFit", style={"height": f"{height}px", "width": "100%"},
        dashGridOptions={**options, "rowHeight": PHONE_ROW_HEIGHT} if phone else options,
        getRowId="params.data.hcp_id",
    )


def npi_link(hcp_id: str) -> str:
    """Markdown link to the HCP 360 page; NPIs are 10 digits, so nothing to escape."""
    return f"[{hcp_id}](/hcp/{hcp_id})" if str(hcp_id).isdigit() else str(hcp_id)


def sort_from_model(sort_model: list[dict] | None) -> list[dict]:
    """AG Grid ``sortModel`` -> the service's ``sort`` (same shape; the NPI link column sorts by NPI)."""
    return [{"colId": "hcp_id" if s["colId"] == "npi_link" else s["colId"], "sort": s.get("sort", "asc")}
            for s in sort_model or []]
