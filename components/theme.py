"""One look for every page: channel colours and labels, and the Plotly template ``nba``.

Every chart colours channels with :func:`channel_color` and uses ``template=PLOTLY_TEMPLATE``.
"""
from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from engine.config import CHANNEL_LABELS, CHANNELS, channel_label  # noqa: F401  (the UI's one import point)

#: Flatly palette (assets/00_bootstrap_flatly.min.css) so charts match the shell.
PRIMARY = "#2c3e50"
SUCCESS = "#18bc9c"
INFO = "#3498db"
WARNING = "#f39c12"
DANGER = "#e74c3c"
MUTED = "#95a5a6"

#: Colour-blind-friendly (Okabe-Ito), taken in engine.config.CHANNELS order: a new channel gets the next one.
CHANNEL_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
assert len(CHANNELS) <= len(CHANNEL_PALETTE), "more channels than channel colours: extend CHANNEL_PALETTE"
CHANNEL_COLORS: dict[str, str] = dict(zip(CHANNELS, CHANNEL_PALETTE))

PLOTLY_TEMPLATE = "nba"


def channel_color(channel: str) -> str:
    """The channel's colour; unknown channels get a neutral grey rather than an error."""
    return CHANNEL_COLORS.get(channel, MUTED)


pio.templates[PLOTLY_TEMPLATE] = go.layout.Template(
    layout=go.Layout(
        font=dict(family="-apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif", size=13, color=PRIMARY),
        colorway=[CHANNEL_COLORS[c] for c in CHANNELS] + [PRIMARY, DANGER, MUTED],
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin=dict(l=48, r=16, t=40, b=40),
        xaxis=dict(gridcolor="#ecf0f1", zerolinecolor="#dfe6e9"),
        yaxis=dict(gridcolor="#ecf0f1", zerolinecolor="#dfe6e9"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        hoverlabel=dict(font_size=12),
    )
)
