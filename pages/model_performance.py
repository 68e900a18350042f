"""Model performance: hybrid vs baselines vs oracle, all metrics, calibration, training, coherence."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from components.charts import (COMPARISON_METRICS, ablation_figure, calibration_figure, coherence_sweep_figure,
                               model_comparison_figure, split_ablations, training_curves_figure)
from components.common import empty_state, error_alert, loading, page_header, ready_marker, section_card
from components.labels import metric_help, metric_label, model_label
from components.tables import data_grid
from webapp.extensions import nba

dash.register_page(__name__, path="/models", name="Models", title="Model performance · HCP NBA", order=6)

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}


def metrics_table_rows(models: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """One row per model, one column per scalar metric (lists such as calibration bins are left out),
    models and metrics by their readable names (what each metric measures in the header's tooltip)."""
    names = []
    for values in models.values():
        names += [k for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                  and k not in names]
    order = {m: i for i, m in enumerate(COMPARISON_METRICS)}
    names.sort(key=lambda m: (order.get(m, len(order)), m))
    rows = [{"model": model_label(name), **{m: values.get(m) for m in names}} for name, values in models.items()]
    columns = [{"field": "model", "headerName": "Model", "pinned": "left", "minWidth": 210}] + [
        {"field": m, "headerName": metric_label(m), "headerTooltip": metric_help(m) or metric_label(m),
         "type": "numericColumn", "minWidth": 130, "wrapHeaderText": True, "autoHeaderHeight": True,
         "valueFormatter": {"function": "params.value == null ? '—' : d3.format('.3f')(params.value)"}}
        for m in names]
    return rows, columns


def served_against_best_other(models: dict[str, dict]) -> str:
    """"The served hybrid ranks at NDCG@10 0.120; the best other model, Popularity, 0.290." ('' if unknown).

    Real logs have no oracle: this says how the served model ranks against what it replaces."""
    hybrid = (models.get("hybrid") or {}).get("ndcg@10")
    others = {n: v["ndcg@10"] for n, v in models.items() if n != "hybrid" and n != "oracle"
              and not n.startswith("hybrid") and (v or {}).get("ndcg@10") is not None}
    if hybrid is None or not others:
        return ""
    best = max(others, key=others.get)
    return (f"The served hybrid ranks at {metric_label('ndcg@10')} {hybrid:.3f}; the best other model, "
            f"{model_label(best)}, at {others[best]:.3f}.")


def layout(**_kwargs):
    return html.Div([
        page_header("Model performance", "How well the served model ranks content, against baselines and the oracle"),
        dcc.Store(id="models-trigger", data=0),
        loading(html.Div(id="models-body")),
        html.Div(id="models-ready-slot"),
    ])


def chosen_topics(explorer: dict) -> int | None:
    """The number of topics the served model uses (from its explorer data)."""
    return (explorer or {}).get("num_topics")


def performance_body(manifest: dict, chosen_k: int | None) -> html.Div:
    evaluation = manifest.get("metrics") or {}
    models = evaluation.get("models") or {}
    if not models:
        return empty_state("No evaluation yet", "Train a model bundle to see its metrics here.")
    models, ablations = split_ablations(models)
    rows, columns = metrics_table_rows(models)
    note = " · ".join(p for p in (
        f"version {manifest['version']}" if manifest.get("version") else "",
        f"protocol {evaluation.get('protocol') or manifest.get('protocol')}" if evaluation.get("protocol")
        or manifest.get("protocol") else "",
        f"k = {evaluation['k']}" if evaluation.get("k") else "",
        f"test period from {str(evaluation['cutoff'])[:10]}" if evaluation.get("cutoff") else "") if p)
    return html.Div([
        html.P(note, className="text-muted mb-1", id="models-note"),
        html.P(served_against_best_other(models), className="mb-3", id="models-summary"),
        section_card("Hybrid vs baselines vs oracle",
                     dcc.Graph(id="models-comparison", figure=model_comparison_figure(models, title=None),
                               config=GRAPH_CONFIG)),
        section_card("All metrics", data_grid("models-table", rows, columns, height=60 + 42 * len(rows))),
        section_card("Ablation: the hybrid without each of its parts", dcc.Graph(
            id="models-ablation", config=GRAPH_CONFIG,
            figure=ablation_figure(models.get("hybrid") or {}, ablations, title=None))),
        dbc.Row([
            dbc.Col(section_card("Calibration", dcc.Graph(
                id="models-calibration", config=GRAPH_CONFIG,
                figure=calibration_figure((models.get("hybrid") or {}).get("calibration") or [], title=None)),
                subtitle="does a predicted 30% engage 30% of the time? On the diagonal: yes"), lg=5),
            dbc.Col(section_card("Training curves", dcc.Graph(
                id="models-training", config=GRAPH_CONFIG,
                figure=training_curves_figure(manifest.get("training_curves") or {}, title=None)),
                subtitle="loss per epoch, each model on its own scale"), lg=7),
        ]),
        section_card("Topic coherence", dcc.Graph(
            id="models-coherence", config=GRAPH_CONFIG,
            figure=coherence_sweep_figure(manifest.get("topic_sweep") or [], chosen_k, title=None))),
    ])


@dash.callback(Output("models-body", "children"), Output("models-ready-slot", "children"),
               Input("models-trigger", "data"))
def load_metrics(_trigger):
    service = nba.service
    try:
        manifest, explorer = service.model_metrics(), service.topic_explorer()
    except Exception as exc:  # noqa: BLE001 - e.g. no bundle yet
        return error_alert(str(exc), "Could not load model metrics"), ready_marker("models")
    return performance_body(manifest, chosen_topics(explorer)), ready_marker("models")
