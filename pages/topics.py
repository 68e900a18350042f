"""Topic explorer: intertopic map, term relevance (λ), word cloud, documents and prevalence."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.charts import intertopic_map, prevalence_figure, relevance_figure
from components.common import empty_state, error_alert, loading, page_header, ready_marker, section_card
from components.content import content_link, pubmed_link
from engine.topics.cloud import word_cloud_image
from webapp.extensions import nba
from webapp.inputs import number

dash.register_page(__name__, path="/topics", name="Topics", title="Topic explorer · HCP NBA", order=4)

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}
N_DOCUMENTS = 15


def topic_name(topic: dict) -> str:
    """A topic as people say it ("Heart failure and titration"); its term label when it has no phrase."""
    phrase = topic.get("phrase") or ""
    return phrase[:1].upper() + phrase[1:] if phrase else topic["label"]


def document_list(docs: list[dict]) -> html.Div:
    """Titles (plain text) linking to each content's page, with a PubMed link when it has a PMID."""
    if not docs:
        return empty_state("No documents for this topic")
    items = []
    for doc in docs:
        meta = [f"{doc['weight']:.0%} of this document" if doc.get("weight") is not None else None,
                str(doc.get("publication_date") or "")[:10] or None,
                f"PMID {doc['pmid']}" if doc.get("pmid") else doc["content_id"]]
        pubmed = pubmed_link(doc.get("pmid"), "PubMed ↗", className="ms-2")
        items.append(html.Li([html.Div(content_link(doc["content_id"], doc.get("title")), className="fw-semibold"),
                              html.Div([" · ".join(m for m in meta if m), pubmed], className="text-muted small")],
                             className="list-group-item"))
    return html.Ul(items, className="list-group list-group-flush topic-docs", id="topics-doc-list")


def layout(**_kwargs):
    explorer = nba.service.topic_explorer()
    topics = explorer.get("topics") or []
    if not topics:
        return html.Div([page_header("Topic explorer"),
                         empty_state("No topic model yet", "Train a model bundle to explore the content's topics."),
                         ready_marker("topics")])
    first = max(topics, key=lambda t: t["prevalence"])["id"]
    return html.Div([
        page_header("Topic explorer", "What the content catalogue is about, learned from titles and abstracts"),
        dbc.Row([
            dbc.Col([dbc.Label("Topic", html_for="topics-select"),
                     dcc.Dropdown(id="topics-select", value=first, clearable=False,
                                  options=[{"label": f"{t['id']}: {topic_name(t)}", "value": t["id"]}
                                           for t in sorted(topics, key=lambda t: t["id"])])], lg=6),
            dbc.Col([dbc.Label("Relevance λ (1 = frequent in topic, 0 = distinctive to topic)",
                               html_for="topics-lambda"),
                     dcc.Slider(id="topics-lambda", min=0, max=1, step=0.1, value=0.6,
                                marks={0: "0", 0.5: "0.5", 1: "1"}, tooltip={"placement": "bottom"})], lg=6),
        ], className="mb-3 g-3"),
        dbc.Row([
            dbc.Col(section_card("Intertopic distance map",
                                 loading(dcc.Graph(id="topics-map", config=GRAPH_CONFIG)),
                                 subtitle="bubble area = prevalence; click a bubble to select"), lg=6),
            dbc.Col(section_card("Relevant terms", loading(dcc.Graph(id="topics-terms", config=GRAPH_CONFIG))), lg=6),
        ]),
        dbc.Row([
            dbc.Col(section_card("Word cloud", loading(html.Div(id="topics-cloud", className="text-center"))), lg=6),
            dbc.Col(section_card("Prevalence over time", loading(dcc.Graph(id="topics-trend", config=GRAPH_CONFIG))),
                    lg=6),
        ]),
        section_card("Documents", loading(html.Div(id="topics-docs"))),
        html.Div(id="topics-ready-slot"),
    ])


@dash.callback(Output("topics-select", "value"), Input("topics-map", "clickData"), State("topics-select", "value"),
               prevent_initial_call=True)
def select_from_map(click, current):
    """Clicking a bubble selects its topic (the dropdown drives everything else)."""
    try:
        topic_id = click["points"][0]["customdata"][0]
    except (TypeError, KeyError, IndexError):
        return no_update
    return topic_id if topic_id != current else no_update


@dash.callback(
    Output("topics-map", "figure"), Output("topics-cloud", "children"), Output("topics-trend", "figure"),
    Output("topics-docs", "children"), Output("topics-ready-slot", "children"),
    Input("topics-select", "value"),
)
def show_topic(topic_id):
    explorer = nba.service.topic_explorer()
    topic = next((t for t in explorer["topics"] if t["id"] == topic_id), None)
    if topic is None:
        return no_update, error_alert(f"Topic {topic_id} is not in the served model"), no_update, None, \
            ready_marker("topics")
    # rendered with the topic model; a bundle written before that renders here (loading matplotlib)
    cloud_uri = (explorer.get("word_cloud_images") or {}).get(str(topic_id)) or \
        word_cloud_image(explorer["word_cloud"].get(str(topic_id)) or {})
    cloud = html.Img(src=cloud_uri, alt=f"Word cloud of topic {topic_id}: {topic_name(topic)}",
                     className="img-fluid", id="topics-cloud-img") if cloud_uri else empty_state("No terms")
    series = [s for s in explorer.get("prevalence_over_time") or [] if s["topic_id"] == topic_id]
    docs = nba.service.topic_documents(topic_id, n=N_DOCUMENTS)
    return (intertopic_map(explorer["topics"], selected=topic_id, title=None), cloud,
            prevalence_figure(series, title=f"Topic {topic_id}: {topic_name(topic)}"), document_list(docs),
            ready_marker("topics"))


@dash.callback(Output("topics-terms", "figure"), Input("topics-select", "value"), Input("topics-lambda", "value"))
def show_terms(topic_id, lam):
    explorer = nba.service.topic_explorer()
    terms = explorer["relevance"].get(str(topic_id)) or []
    lam = number(lam, "topics-lambda.value", 0.0, 1.0, default=0.6)
    return relevance_figure(terms, lam, title=f"Topic {topic_id} · λ = {lam:.1f}")
