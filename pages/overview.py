"""Overview: headline KPIs, engagement trend and channel mix, top content this quarter."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from components.charts import channel_mix_figure, trend_figure
from components.common import empty_state, kpi_card, loading, page_header, ready_marker, section_card
from components.tables import simple_table
from webapp.extensions import nba

dash.register_page(__name__, path="/", name="Overview", title="Overview · HCP NBA", order=0)

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}
TOP_CONTENT_DAYS = 91


def _fmt_int(value) -> str:
    return f"{int(value):,}" if value is not None else "—"


def _fmt_pct(value) -> str:
    return f"{float(value):.1%}" if value is not None else "—"


def model_quality(metrics: dict) -> dict:
    """Hybrid NDCG@10 as a share of the oracle's and the hybrid's value ratio@10 (synthetic world), and
    the hybrid's NDCG@10 beside the best other model's (any data: real logs have no oracle); None when absent."""
    models = (metrics.get("metrics") or {}).get("models") or {}
    hybrid, oracle = models.get("hybrid") or {}, models.get("oracle") or {}
    ratio = hybrid["ndcg@10"] / oracle["ndcg@10"] if hybrid.get("ndcg@10") is not None and oracle.get("ndcg@10") \
        else None
    others = {name: row["ndcg@10"] for name, row in models.items()
              if not name.startswith("hybrid") and name != "oracle" and (row or {}).get("ndcg@10") is not None}
    best = max(others, key=others.get) if others else None
    return {"ndcg_vs_oracle": ratio, "value_ratio": hybrid.get("value_ratio@10"), "ndcg": hybrid.get("ndcg@10"),
            "best_other": (best, others[best]) if best else None}


def kpi_cards(kpis: dict, quality: dict) -> list:
    """The KPI row: volumes, engagement and the model being served with its quality vs the oracle
    (or, without one, vs the best other model)."""
    ratio, value_ratio, ndcg, best = (quality.get(k) for k in ("ndcg_vs_oracle", "value_ratio", "ndcg", "best_other"))
    detail = " · ".join(p for p in (
        f"NDCG@10 at {ratio:.0%} of oracle" if ratio is not None else "",
        f"value ratio {value_ratio:.2f}" if value_ratio is not None else "",
        f"NDCG@10 {ndcg:.3f} ({best[0].replace('_', ' ')} {best[1]:.3f})" if ratio is None and ndcg is not None
        and best else "") if p) or "no evaluation yet"
    return [
        kpi_card("HCPs", _fmt_int(kpis.get("hcps")), f"{_fmt_int(kpis.get('reached_hcps'))} reached"),
        kpi_card("Contents", _fmt_int(kpis.get("contents")), "in the catalogue"),
        kpi_card("Touches", _fmt_int(kpis.get("interactions")), "all channels"),
        kpi_card("Engagement rate", _fmt_pct(kpis.get("engagement_rate")), "opened, clicked or attended"),
        kpi_card("Model", html.Span(kpis.get("version") or "none", style={"fontSize": "1.05rem"}), detail,
                 id="overview-model-version"),
    ]


def top_content_rows(rows: list[dict]) -> list[dict]:
    return [{"Content": r.get("title") or r["content_id"], "Touches": _fmt_int(r.get("touches")),
             "Engagement rate": _fmt_pct(r.get("rate"))} for r in rows]


def layout(**_kwargs):
    return html.Div([
        page_header("Overview", "How the brand's HCP engagement is going, and the model serving it"),
        dcc.Store(id="overview-trigger", data=0),
        loading(html.Div(id="overview-kpis", className="kpi-row mb-3")),
        dbc.Row([
            dbc.Col(section_card("Engagement rate by channel, per month",
                                 loading(dcc.Graph(id="overview-trend", config=GRAPH_CONFIG))), lg=8),
            dbc.Col(section_card("Channel mix (touches)", loading(dcc.Graph(id="overview-mix", config=GRAPH_CONFIG))),
                    lg=4),
        ]),
        section_card("Top content this quarter", loading(html.Div(id="overview-top-content")),
                     subtitle="most engaged content over the last 91 days of data"),
        html.Div(id="overview-ready-slot"),
    ])


@dash.callback(
    Output("overview-kpis", "children"), Output("overview-trend", "figure"), Output("overview-mix", "figure"),
    Output("overview-ready-slot", "children"),
    Input("overview-trigger", "data"),
)
def load_overview(_trigger):
    service = nba.service
    kpis, trend = service.overview_kpis(), service.engagement_trend()
    try:
        quality = model_quality(service.model_metrics())
    except Exception:  # noqa: BLE001 - no bundle yet: the KPIs still show, the model card says so
        quality = {}
    cards = dbc.Row([dbc.Col(c, className="mb-2") for c in kpi_cards(kpis, quality)], className="g-3")
    return cards, trend_figure(trend, title=None), channel_mix_figure(trend, title=None), ready_marker("overview")


@dash.callback(Output("overview-top-content", "children"), Input("overview-trigger", "data"))
def load_top_content(_trigger):
    try:
        top = nba.service.top_content(n=10, days=TOP_CONTENT_DAYS)
    except Exception as exc:  # noqa: BLE001 - this card says why; the rest of the page is unaffected
        return empty_state("Top content is not available", str(exc))
    return simple_table(top_content_rows(top), empty="No content was sent in the last quarter")
