"""The 404 page: Dash Pages shows it for any path no page matches."""
import dash
from dash import dcc

from components.common import empty_state, ready_marker

dash.register_page(__name__, path="/404", name="Not found", title="Not found · HCP Next Best Action")


def layout(**_kwargs):
    return empty_state(
        "Page not found",
        "The address does not match any page. Check the link or start from the overview.",
        action=[dcc.Link("Go to the overview", href="/", className="btn btn-primary"), ready_marker("not-found")],
        icon="404",
    )
