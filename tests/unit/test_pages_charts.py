"""Figure builders: service-shaped rows in, traces with the right data and channel colours out."""
from __future__ import annotations

import plotly.graph_objects as go
import pytest

from components import charts
from components.theme import CHANNEL_COLORS, channel_label


def _effectiveness_rows():
    return [
        {"channel": "email", "specialty": "Cardiology", "month": "2024-01-01", "touches": 100, "engaged": 20, "rate": 0.2},
        {"channel": "email", "specialty": "Cardiology", "month": "2024-02-01", "touches": 100, "engaged": 40, "rate": 0.4},
        {"channel": "email", "specialty": "Oncology", "month": "2024-01-01", "touches": 50, "engaged": 25, "rate": 0.5},
        {"channel": "webinar", "specialty": "Oncology", "month": "2024-02-01", "touches": 10, "engaged": 9, "rate": 0.9},
    ]


def test_aggregate_rates_weights_by_touches():
    agg = charts.aggregate_rates(_effectiveness_rows(), ("channel",))
    assert agg[("email",)] == {"touches": 250, "engaged": 85, "rate": pytest.approx(85 / 250)}
    assert agg[("webinar",)]["rate"] == pytest.approx(0.9)


def test_trend_figure_one_line_per_channel_in_channel_colour():
    fig = charts.trend_figure(_effectiveness_rows())
    by_name = {t.name: t for t in fig.data}
    assert list(by_name) == [channel_label("email"), channel_label("webinar")]  # CHANNELS order
    email = by_name[channel_label("email")]
    assert email.line.color == CHANNEL_COLORS["email"]
    assert list(email.x) == ["2024-01-01", "2024-02-01"]  # one point per month
    assert list(email.y) == pytest.approx([45 / 150, 0.4])


def test_channel_mix_uses_channel_colours_and_touch_counts():
    pie = charts.channel_mix_figure(_effectiveness_rows()).data[0]
    assert list(pie.values) == [250, 10]
    assert list(pie.marker.colors) == [CHANNEL_COLORS["email"], CHANNEL_COLORS["webinar"]]


def test_heatmap_has_channels_as_rows_and_gaps_for_missing_or_thin_cells():
    heat = charts.effectiveness_heatmap(_effectiveness_rows(), min_touches=20).data[0]
    assert list(heat.y) == [channel_label("email"), channel_label("webinar")]
    assert list(heat.x) == ["Cardiology", "Oncology"]  # busiest specialty first
    assert heat.z[0][0] == pytest.approx(0.3)
    assert heat.z[1][0] is None  # no webinar touches in cardiology: blank, not 0 %
    assert heat.z[1][1] is None and "too few" in heat.text[1][1]  # 10 touches < min_touches


def test_touches_rate_figure_has_bars_and_rate_on_second_axis():
    fig = charts.touches_rate_figure(_effectiveness_rows())
    bars, line = fig.data
    assert list(bars.y) == [250, 10]
    assert list(bars.marker.color) == [CHANNEL_COLORS["email"], CHANNEL_COLORS["webinar"]]
    assert line.yaxis == "y2"


def test_rate_axis_ticks_are_round_percentages():
    assert [charts.nice_step(x) for x in (0.09, 0.1, 0.12, 0.21, 0.04)] == [0.1, 0.1, 0.2, 0.25, 0.05]
    rows = [{"channel": "email", "specialty": "A", "month": "2024-01", "touches": 100, "engaged": 52}]
    axis = charts.touches_rate_figure(rows).layout.yaxis2
    assert axis.dtick == 0.2 and axis.tick0 == 0 and axis.range[1] == pytest.approx(0.6)


@pytest.mark.parametrize("builder", [charts.trend_figure, charts.channel_mix_figure, charts.effectiveness_heatmap,
                                     charts.touches_rate_figure, charts.history_timeline, charts.forecast_figure,
                                     charts.intertopic_map, charts.calibration_figure, charts.coherence_sweep_figure])
def test_empty_input_gives_a_figure_that_says_so(builder):
    fig = builder([])
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text


def test_history_timeline_colours_by_channel_and_symbols_by_outcome():
    history = [
        {"timestamp": "2024-01-05T10:00:00", "content_id": "C1", "title": "Heart failure", "channel": "email",
         "outcome": "opened"},
        {"timestamp": "2024-02-05T10:00:00", "content_id": "C2", "title": None, "channel": "webinar",
         "outcome": "attended"},
    ]
    fig = go.Figure(charts.history_timeline(history))  # a plain dict: check it is a valid figure too
    points = [t for t in fig.data if t.x[0] is not None]
    email = next(t for t in points if t.y[0] == channel_label("email"))
    assert email.marker.color == CHANNEL_COLORS["email"]
    assert email.marker.symbol == charts.OUTCOME_SYMBOLS["opened"]
    assert email.customdata[0][0] == "Heart failure"
    assert fig.layout.template.layout.font.color  # the shared template is inlined
    webinar = next(t for t in points if t.y[0] == channel_label("webinar"))
    assert webinar.customdata[0][0] == "C2"  # no title: the content id is shown
    legend = [t.name for t in fig.data if t.x[0] is None]
    assert legend == ["delivered", "opened", "clicked", "attended"]


def test_forecast_figure_marks_median_and_interval_per_step():
    forecast = [{"step": 1, "channel": "rep_visit", "probability": 0.6, "date": "2024-03-10T00:00:00",
                 "date_low": "2024-03-01T00:00:00", "date_high": "2024-03-25T00:00:00"}]
    interval, marker = go.Figure(charts.forecast_figure(forecast)).data
    assert [str(x)[:10] for x in interval.x] == ["2024-03-01", "2024-03-25"]
    assert str(marker.x[0])[:10] == "2024-03-10"
    assert marker.marker.color == CHANNEL_COLORS["rep_visit"]
    assert "60%" in marker.text[0]
    assert marker.y[0] == "1 · Rep visit 60%" and marker.mode == "markers"  # the label is the row's, never clipped


def test_relevance_ranks_distinctive_terms_first_at_low_lambda():
    terms = [{"term": "common", "p_term_topic": 0.10, "p_term": 0.10, "freq_in_topic": 50.0, "overall_freq": 500},
             {"term": "rare_disease", "p_term_topic": 0.05, "p_term": 0.001, "freq_in_topic": 25.0, "overall_freq": 5}]
    assert [t["term"] for t in charts.relevance_terms(terms, lam=1.0)] == ["common", "rare_disease"]
    assert [t["term"] for t in charts.relevance_terms(terms, lam=0.0)] == ["rare_disease", "common"]
    corpus, topic = charts.relevance_figure(terms, lam=0.0).data
    assert list(topic.y) == ["common", "rare disease"]  # best at the top = last bar
    assert list(corpus.x) == [500, 5] and list(topic.x) == [50.0, 25.0]


def test_intertopic_map_highlights_the_selected_topic_and_scales_bubbles():
    topics = [{"id": 0, "label": "a", "x": 0, "y": 0, "prevalence": 0.1},
              {"id": 1, "label": "b", "x": 1, "y": 1, "prevalence": 0.4}]
    bubbles = charts.intertopic_map(topics, selected=1).data[0]
    assert list(bubbles.marker.color) == [charts.NEUTRAL, charts.HIGHLIGHT]
    assert bubbles.marker.size[1] > bubbles.marker.size[0]
    assert bubbles.customdata[1][0] == 1  # the click handler reads the topic id from here


def test_prevalence_over_time_plots_the_share_per_period():
    line = charts.prevalence_figure([{"period": "2023", "topic_id": 0, "share": 0.2, "n_docs": 10},
                                     {"period": "2024", "topic_id": 0, "share": 0.3, "n_docs": 12}]).data[0]
    assert list(line.x) == ["2023", "2024"] and list(line.y) == [0.2, 0.3]


def test_model_comparison_highlights_hybrid_and_oracle_and_skips_missing_metrics():
    models = {"popularity": {"ndcg@10": 0.2}, "oracle": {"ndcg@10": 0.5, "mrr": 0.4},
              "hybrid": {"ndcg@10": 0.45, "mrr": 0.3}}
    fig = charts.model_comparison_figure(models)
    assert [t.name for t in fig.data] == ["Hybrid (served)", "Popularity", "Oracle (true probabilities)"]
    assert fig.data[0].marker.color == charts.HIGHLIGHT and fig.data[2].marker.color == charts.ORACLE
    assert list(fig.data[0].x) == ["NDCG@10", "MRR"]  # metrics nobody has are left out


def test_calibration_skips_empty_bins():
    bins = [{"bin_low": 0.0, "bin_high": 0.5, "count": 10, "mean_predicted": 0.2, "observed_rate": 0.25},
            {"bin_low": 0.5, "bin_high": 1.0, "count": 0, "mean_predicted": None, "observed_rate": None}]
    diagonal, curve = charts.calibration_figure(bins).data
    assert list(curve.x) == [0.2] and list(curve.y) == [0.25]


def test_training_curves_and_coherence_sweep():
    fig = charts.training_curves_figure({"sequence": {"loss": [4.0, 3.8], "val_loss": [4.1, 3.9], "gap_loss": [3.0]},
                                         "collaborative": {"loss": [0.02, 0.015]}})
    assert [(t.name, t.yaxis) for t in fig.data] == [("Training", "y"), ("Validation", "y"), ("Training", "y2")]
    assert fig.layout.yaxis2.matches is None  # its own scale: the small collaborative loss is not drawn flat
    assert [a.text for a in fig.layout.annotations] == ["Sequence (LSTM)", "Collaborative filtering"]
    sweep = charts.coherence_sweep_figure([{"k": 6, "c_v": 0.5}, {"k": 4, "c_v": 0.4}], chosen_k=6)
    assert list(sweep.data[0].x) == [4, 6]
    assert list(sweep.data[1].x) == [6]  # the chosen k is marked
