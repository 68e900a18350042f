"""Figure builders: service-shaped lists/dicts in, plotly figures out.

Pure functions (no service, no Dash callbacks) so they can be unit tested and reused. Every
figure uses :data:`components.theme.PLOTLY_TEMPLATE` and one colour per channel from
:func:`components.theme.channel_color`; an empty input gives a figure that says so instead of a
blank axis.
"""
from __future__ import annotations

import functools
import math
from collections import defaultdict
from datetime import date, datetime

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from components.labels import model_label
from components.theme import PLOTLY_TEMPLATE, channel_color, channel_label
from engine.config import CHANNELS
from engine.data.schemas import OUTCOMES

#: Marker symbol per interaction outcome (weakest to strongest).
OUTCOME_SYMBOLS = {"delivered": "circle-open", "opened": "circle", "clicked": "diamond", "attended": "star"}

#: Colour for "the rest" in comparisons (baselines) and the highlighted series (hybrid, oracle).
NEUTRAL = "#9aa5b1"
HIGHLIGHT = "#1f4e79"
ORACLE = "#2e7d32"

_MARGIN = dict(l=48, r=28, t=40, b=40)


def _layout(fig: go.Figure, title: str | None = None, height: int = 340, **kwargs) -> go.Figure:
    # With a title, the legend goes to the right so the two never overlap.
    kwargs.setdefault("legend", dict(orientation="h", yanchor="bottom", y=1.02, x=1 if title else 0,
                                     xanchor="right" if title else "left"))
    kwargs.setdefault("margin", _MARGIN)
    fig.update_layout(template=PLOTLY_TEMPLATE, height=height,
                      title=dict(text=title, x=0.01, font=dict(size=15)) if title else None, **kwargs)
    return fig


def empty_figure(message: str = "No data for this selection", height: int = 340) -> go.Figure:
    """A blank figure that tells the user why it is blank."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#6c757d"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=height)


def _month(value) -> str:
    """'2024-03' from a date, timestamp or ISO string (monthly charts bucket on this)."""
    if isinstance(value, (date, datetime)):
        return value.strftime("%Y-%m")
    return str(value)[:7]


def _ordered_channels(present) -> list[str]:
    present = set(present)
    return [c for c in CHANNELS if c in present] + sorted(present - set(CHANNELS))


def aggregate_rates(rows: list[dict], by: tuple[str, ...]) -> dict[tuple, dict]:
    """Sum ``touches`` and ``engaged`` over ``by`` keys; rate = engaged / touches.

    Rows are service rows with ``touches`` and either ``engaged`` or ``rate``.
    """
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        key = tuple(_month(row[k]) if k == "month" else row[k] for k in by)
        touches = float(row.get("touches") or 0)
        engaged = row.get("engaged")
        if engaged is None:
            engaged = float(row.get("rate") or 0) * touches
        sums[key][0] += touches
        sums[key][1] += float(engaged)
    return {key: {"touches": t, "engaged": e, "rate": (e / t if t else 0.0)} for key, (t, e) in sums.items()}


def trend_figure(rows: list[dict], value: str = "rate", title: str = "Engagement rate by channel") -> go.Figure:
    """Monthly lines, one per channel, of ``value`` ('rate' or 'touches')."""
    if not rows:
        return empty_figure("No interactions in this period")
    agg = aggregate_rates(rows, ("channel", "month"))
    fig = go.Figure()
    for channel in _ordered_channels(ch for ch, _ in agg):
        months = sorted(m for ch, m in agg if ch == channel)
        fig.add_trace(go.Scatter(
            x=[f"{m}-01" for m in months], y=[agg[(channel, m)][value] for m in months], mode="lines+markers",
            name=channel_label(channel), line=dict(color=channel_color(channel), width=2),
            marker=dict(size=5),
            hovertemplate="%{x|%b %Y}<br>" + ("%{y:.1%}" if value == "rate" else "%{y:,.0f} touches")
                          + f"<extra>{channel_label(channel)}</extra>"))
    fig.update_xaxes(type="date", tickformat="%b %y", nticks=7, tickangle=0)
    fig.update_yaxes(tickformat=".0%" if value == "rate" else ",", rangemode="tozero")
    # the legend at the figure's foot: five channels wrap to two lines on a phone, and at the top they
    # would cover the lines
    return _layout(fig, title, legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
                   margin=dict(_MARGIN, b=96))


def channel_mix_figure(rows: list[dict], title: str = "Channel mix (touches)") -> go.Figure:
    """Donut of touches per channel."""
    agg = aggregate_rates(rows, ("channel",))
    if not agg or not sum(v["touches"] for v in agg.values()):
        return empty_figure("No touches yet")
    channels = _ordered_channels(k[0] for k in agg)
    fig = go.Figure(go.Pie(
        labels=[channel_label(c) for c in channels], values=[agg[(c,)]["touches"] for c in channels],
        marker=dict(colors=[channel_color(c) for c in channels]), hole=0.55, sort=False,
        textinfo="percent", hovertemplate="%{label}: %{value:,.0f} touches<extra></extra>"))
    return _layout(fig, title, legend=dict(orientation="v", x=1.0, y=0.5))


def effectiveness_heatmap(rows: list[dict], title: str = "Engagement rate: channel × specialty",
                          max_specialties: int = 15, min_touches: int = 5) -> go.Figure:
    """Heatmap of engagement rate with channels as rows and the busiest specialties as columns.

    Cells with fewer than ``min_touches`` touches stay blank: a rate over 2 touches is noise.
    """
    if not rows:
        return empty_figure()
    agg = aggregate_rates(rows, ("channel", "specialty"))
    channels = _ordered_channels(k[0] for k in agg)
    by_volume = defaultdict(float)
    for (_, spec), v in agg.items():
        by_volume[spec] += v["touches"]
    specialties = sorted(by_volume, key=lambda s: -by_volume[s])[:max_specialties]
    z, text = [], []
    for channel in channels:
        cells = [agg.get((channel, s)) for s in specialties]
        z.append([c["rate"] if c and c["touches"] >= min_touches else None for c in cells])
        text.append([f"{c['touches']:,.0f} touches" + ("" if c["touches"] >= min_touches else " (too few)")
                     if c else "no touches" for c in cells])
    fig = go.Figure(go.Heatmap(
        z=z, x=specialties, y=[channel_label(c) for c in channels], text=text, colorscale="Blues",
        zmin=0, colorbar=dict(tickformat=".0%", title=dict(text="rate")), xgap=2, ygap=2,
        texttemplate="%{z:.0%}", hovertemplate="%{y} · %{x}<br>rate %{z:.1%}<br>%{text}<extra></extra>",
        hoverongaps=False))
    fig.update_xaxes(tickangle=-35 if len(specialties) > 6 else 0, automargin=True)
    fig.update_yaxes(automargin=True, autorange="reversed")
    return _layout(fig, title, height=380)


def touches_rate_figure(rows: list[dict], title: str = "Touches and engagement rate by channel") -> go.Figure:
    """Bars of touches per channel with the engagement rate as a line on a second axis."""
    agg = aggregate_rates(rows, ("channel",))
    if not agg:
        return empty_figure()
    channels = _ordered_channels(k[0] for k in agg)
    labels = [channel_label(c) for c in channels]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[agg[(c,)]["touches"] for c in channels], name="Touches",
                         marker=dict(color=[channel_color(c) for c in channels]),
                         hovertemplate="%{x}: %{y:,.0f} touches<extra></extra>"))
    fig.add_trace(go.Scatter(x=labels, y=[agg[(c,)]["rate"] for c in channels], name="Engagement rate",
                             yaxis="y2", mode="lines+markers", line=dict(color="#343a40", dash="dot"),
                             marker=dict(size=9), hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    top_rate = max(v["rate"] for v in agg.values()) or 1.0
    step = nice_step(top_rate * 1.15 / 5)
    fig.update_layout(yaxis=dict(title="touches", tickformat=","),
                      yaxis2=dict(title="engagement rate", overlaying="y", side="right", tickformat=".0%",
                                  range=[0, step * math.ceil(top_rate * 1.15 / step)], tick0=0, dtick=step,
                                  showgrid=False))
    return _layout(fig, title, margin=dict(_MARGIN, r=64))


def nice_step(raw: float) -> float:
    """The round tick step nearest above ``raw``: 1, 2, 2.5 or 5 times a power of ten (0.1, 0.05, ...)."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12)


def _plain_layout(title: str | None = None, height: int = 340, **kwargs) -> dict:
    """:func:`_layout` for a figure built as a plain dict (template inlined as JSON)."""
    layout = {"template": _template_json(), "height": height, "margin": dict(_MARGIN),
              "legend": dict(orientation="h", yanchor="bottom", y=1.02, x=1 if title else 0,
                             xanchor="right" if title else "left")}
    if title:
        layout["title"] = dict(text=title, x=0.01, font=dict(size=15))
    return {**layout, **kwargs}


@functools.lru_cache(maxsize=1)
def _template_json() -> dict:
    return pio.templates[PLOTLY_TEMPLATE].to_plotly_json()


# The HCP 360 charts are drawn on every HCP opened, under load: built as plain dicts (what
# dcc.Graph sends anyway), because plotly's validated objects cost ~100 ms per figure here.
def history_timeline(history: list[dict], title: str = "Interaction history"):
    """Touches over time: y = channel, colour = channel, symbol = outcome, hover = content title.

    Returns a plotly figure dict (``{"data": [...], "layout": {...}}``)."""
    if not history:
        return empty_figure("No interactions recorded for this HCP", height=300)
    traces = []
    channels = _ordered_channels(h["channel"] for h in history)
    for channel in channels:
        for outcome in OUTCOMES:
            points = [h for h in history if h["channel"] == channel and h["outcome"] == outcome]
            if not points:
                continue
            traces.append(dict(
                type="scatter", x=[p["timestamp"] for p in points], y=[channel_label(channel)] * len(points),
                mode="markers", name=f"{channel_label(channel)} · {outcome}", legendgroup=outcome,
                marker=dict(color=channel_color(channel), symbol=OUTCOME_SYMBOLS.get(outcome, "circle"),
                            size=11, line=dict(width=1.5, color=channel_color(channel))),
                customdata=[[p.get("title") or p.get("content_id"), outcome] for p in points],
                hovertemplate="%{x|%d %b %Y}<br><b>%{customdata[0]}</b><br>" + channel_label(channel)
                              + " · %{customdata[1]}<extra></extra>", showlegend=False))
    # One legend entry per outcome symbol (colour already says the channel on the y axis).
    for outcome in OUTCOMES:
        traces.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=outcome, legendgroup=outcome,
                           marker=dict(symbol=OUTCOME_SYMBOLS[outcome], color="#495057", size=10)))
    layout = _plain_layout(title, height=300, yaxis=dict(
        categoryorder="array", categoryarray=[channel_label(c) for c in reversed(channels)], automargin=True))
    return {"data": traces, "layout": layout}


def plan_figure(plan: dict, title: str | None = None):
    """The plan as a timeline: one lane per channel, a numbered marker per step on its date, hollow
    diamonds for touches already accepted (a figure dict)."""
    steps, accepted = plan.get("steps") or [], plan.get("accepted") or []
    if not steps and not accepted:
        return empty_figure("No step can be planned: consent, caps or approval windows rule everything out",
                            height=260)
    channels = _ordered_channels([s["channel"] for s in steps] + [a["channel"] for a in accepted])
    traces = []
    for channel in channels:
        mine = [s for s in steps if s["channel"] == channel]
        if mine:
            traces.append(dict(
                type="scatter", x=[s["date"] for s in mine], y=[channel_label(channel)] * len(mine),
                mode="markers+text", text=[str(s["step"]) for s in mine], textfont=dict(color="white", size=11),
                marker=dict(color=channel_color(channel), size=22, line=dict(color="white", width=2)),
                customdata=[[s["step"], s.get("title") or s["content_id"], s["engagement_probability"]] for s in mine],
                hovertemplate="<b>Step %{customdata[0]}</b> · %{x|%d %b %Y}<br>%{customdata[1]}<br>"
                              + channel_label(channel) + " · expected engagement %{customdata[2]:.0%}<extra></extra>",
                name=channel_label(channel), showlegend=False))
        done = [a for a in accepted if a["channel"] == channel]
        if done:
            traces.append(dict(
                type="scatter", x=[a["date"] for a in done], y=[channel_label(channel)] * len(done), mode="markers",
                marker=dict(color=channel_color(channel), size=16, symbol="diamond-open", line=dict(width=2.5)),
                customdata=[[a.get("title") or a["content_id"]] for a in done],
                hovertemplate="<b>Accepted</b> · %{x|%d %b %Y}<br>%{customdata[0]}<br>" + channel_label(channel)
                              + "<extra></extra>", name="accepted", showlegend=False))
    layout = _plain_layout(title, height=110 + 46 * len(channels), yaxis=dict(
        categoryorder="array", categoryarray=[channel_label(c) for c in reversed(channels)], automargin=True),
        xaxis=dict(tickformat="%d %b %Y"))
    return {"data": traces, "layout": layout}


def forecast_figure(forecast: list[dict], title: str = "Journey forecast: next touchpoints"):
    """Next steps as channel markers at the median date with 10–90 % interval bars (a figure dict).

    Each step's channel and probability are its row label ("1 · Rep visit 60%") beside the axis,
    where the margin grows to fit them: a label next to its marker would be cut at the plot's edge
    on a phone."""
    if not forecast:
        return empty_figure("No forecast available", height=280)
    traces, labels = [], []
    for step in forecast:
        channel = step["channel"]
        mid, low, high = (datetime.fromisoformat(str(step[k])[:19]) for k in ("date", "date_low", "date_high"))
        label = f"{step['step']} · {channel_label(channel)} {step['probability']:.0%}"
        labels.append(label)
        traces.append(dict(
            type="scatter", x=[low.isoformat(), high.isoformat()], y=[label, label], mode="lines",
            line=dict(color=channel_color(channel), width=6), opacity=0.35, hoverinfo="skip", showlegend=False))
        traces.append(dict(
            type="scatter", x=[mid.isoformat()], y=[label], mode="markers",
            marker=dict(color=channel_color(channel), size=16, line=dict(color="white", width=2)),
            text=[f"{channel_label(channel)} ({step['probability']:.0%})"],
            name=channel_label(channel), legendgroup=channel, showlegend=False,
            hovertemplate=(f"<b>Step {step['step']}: {channel_label(channel)}</b><br>p = {step['probability']:.0%}<br>"
                           f"median {mid:%d %b %Y}<br>10–90 %: {low:%d %b} – {high:%d %b %Y}<extra></extra>")))
    # step 1 on top
    layout = _plain_layout(title, height=80 + 40 * len(forecast),
                           yaxis=dict(categoryorder="array", categoryarray=list(reversed(labels)), automargin=True),
                           xaxis=dict(tickformat="%d %b", nticks=5))
    return {"data": traces, "layout": layout}


def intertopic_map(topics: list[dict], selected: int | None = None, title: str = "Intertopic distance map") -> go.Figure:
    """Bubbles at each topic's 2-D coordinate, area proportional to prevalence.

    ``topics`` rows (``TopicModel.explorer_data()["topics"]``): ``id, label, x, y, prevalence``.
    """
    if not topics:
        return empty_figure("No topic model in this bundle", height=420)
    max_prev = max(t["prevalence"] for t in topics) or 1.0
    fig = go.Figure(go.Scatter(
        x=[t["x"] for t in topics], y=[t["y"] for t in topics], mode="markers+text",
        text=[str(t["id"]) for t in topics], textfont=dict(color="white", size=12),
        customdata=[[t["id"], t["label"], t["prevalence"]] for t in topics],
        marker=dict(size=[18 + 60 * math.sqrt(t["prevalence"] / max_prev) for t in topics],
                    color=[HIGHLIGHT if t["id"] == selected else NEUTRAL for t in topics],
                    opacity=0.8, line=dict(color="white", width=1)),
        hovertemplate="Topic %{customdata[0]}: %{customdata[1]}<br>prevalence %{customdata[2]:.1%}<extra></extra>"))
    fig.update_xaxes(title="PC1", zeroline=True, showticklabels=False)
    fig.update_yaxes(title="PC2", zeroline=True, showticklabels=False, scaleanchor="x")
    return _layout(fig, title, height=420, showlegend=False, clickmode="event")


def relevance_terms(terms: list[dict], lam: float, n: int = 15) -> list[dict]:
    """Rank terms by LDAvis relevance ``λ·log p(w|t) + (1-λ)·log(p(w|t)/p(w))``, best first.

    ``terms`` rows (``explorer_data()["relevance"][topic]``): ``term, p_term_topic, p_term``
    (and the counts ``freq_in_topic, overall_freq`` drawn by :func:`relevance_figure`).
    """
    scored = []
    for t in terms:
        p, overall = max(float(t["p_term_topic"]), 1e-12), max(float(t["p_term"]), 1e-12)
        scored.append({**t, "relevance": lam * math.log(p) + (1 - lam) * math.log(p / overall)})
    return sorted(scored, key=lambda t: -t["relevance"])[:n]


def relevance_figure(terms: list[dict], lam: float, n: int = 15, title: str | None = None) -> go.Figure:
    """LDAvis-style bars for the top terms by relevance: estimated count in the topic over the corpus count."""
    top = relevance_terms(terms, lam, n)
    if not top:
        return empty_figure("No terms for this topic", height=420)
    top = list(reversed(top))  # plotly draws the first bar at the bottom
    labels = [t["term"].replace("_", " ") for t in top]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=[t["overall_freq"] for t in top], orientation="h", name="whole corpus",
                         marker_color="#d5dbe1", hovertemplate="%{y}: %{x:,} in the corpus<extra></extra>"))
    fig.add_trace(go.Bar(y=labels, x=[t["freq_in_topic"] for t in top], orientation="h", name="this topic",
                         marker_color=HIGHLIGHT, hovertemplate="%{y}: ~%{x:,.0f} in this topic<extra></extra>"))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="term count")
    fig.update_yaxes(automargin=True)
    return _layout(fig, title or f"Top terms (λ = {lam:.1f})", height=420)


def prevalence_figure(series: list[dict], title: str | None = "Prevalence over time") -> go.Figure:
    """Topic share of the documents per period; ``series`` rows: ``period, share`` (and ``n_docs``)."""
    if not series:
        return empty_figure("No dated documents", height=300)
    fig = go.Figure(go.Scatter(
        x=[str(s["period"]) for s in series], y=[s["share"] for s in series], mode="lines+markers",
        fill="tozeroy", line=dict(color=HIGHLIGHT), customdata=[s.get("n_docs") for s in series],
        hovertemplate="%{x}: %{y:.1%} of %{customdata} documents<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return _layout(fig, title, height=300)


#: Metrics shown in the comparison bars, in order, with display labels.
COMPARISON_METRICS = {
    "ndcg@10": "NDCG@10", "recall@10": "Recall@10", "mrr": "MRR", "value_ratio@10": "Value ratio@10",
    "channel_accuracy": "Channel accuracy", "engagement_auc": "Engagement AUC",
}


def _model_color(name: str) -> str:
    return {"hybrid": HIGHLIGHT, "oracle": ORACLE}.get(name, NEUTRAL)


def model_comparison_figure(models: dict[str, dict], metrics: dict[str, str] = COMPARISON_METRICS,
                            title: str = "Hybrid vs baselines vs oracle") -> go.Figure:
    """Grouped bars: one group per metric, one bar per model (hybrid and oracle highlighted).

    ``models``: ``{model_name: {metric: value}}``; missing values are simply left out.
    """
    present = [m for m in metrics if any(m in v and v[m] is not None for v in models.values())]
    if not present:
        return empty_figure("No evaluation metrics in this bundle", height=380)
    order = sorted(models, key=lambda n: (n == "oracle", n != "hybrid", n))
    fig = go.Figure()
    for i, name in enumerate(order):
        values = models[name]
        color = _model_color(name)
        if color == NEUTRAL:  # baselines: shades of grey so they stay distinguishable
            color = ["#adb5bd", "#ced4da", "#868e96", "#6c757d", "#dee2e6", "#495057"][i % 6]
        fig.add_trace(go.Bar(
            x=[metrics[m] for m in present], y=[values.get(m) for m in present], name=model_label(name),
            marker_color=color, hovertemplate="%{x}: %{y:.3f}<extra>" + model_label(name) + "</extra>"))
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(rangemode="tozero")
    return _layout(fig, title, height=380)


ABLATION_PREFIX = "hybrid_without_"
ABLATION_METRICS = {"hit_rate@10": "Hit rate@10", "ndcg@10": "NDCG@10", "mrr": "MRR"}


def split_ablations(models: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """``(models, ablations)``: the evaluated models, and the hybrid without each part."""
    ablations = {n: v for n, v in models.items() if n.startswith(ABLATION_PREFIX)}
    return {n: v for n, v in models.items() if n not in ablations}, ablations


def ablation_figure(hybrid: dict, ablations: dict[str, dict], title: str = "What each part adds") -> go.Figure:
    """Horizontal bars: the hybrid, then the hybrid without each part, per ranking metric."""
    if not hybrid or not ablations:
        return empty_figure("No ablation in this bundle", height=300)
    rows = {"hybrid (all parts)": hybrid} | {
        "without " + name[len(ABLATION_PREFIX):]: values for name, values in sorted(ablations.items())}
    fig = go.Figure()
    for i, (metric, label) in enumerate(ABLATION_METRICS.items()):
        fig.add_trace(go.Bar(
            y=list(rows), x=[v.get(metric) for v in rows.values()], name=label, orientation="h",
            marker_color=[HIGHLIGHT, "#868e96", "#adb5bd"][i], texttemplate="%{x:.3f}", textposition="auto",
            hovertemplate="%{y}: %{x:.3f}<extra>" + label + "</extra>"))
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=120 + 70 * len(rows))


def calibration_figure(bins: list[dict], title: str = "Calibration (reliability)") -> go.Figure:
    """Observed engagement rate vs mean predicted probability per bin, with the diagonal for reference.

    ``bins`` rows (``engine.evaluation.metrics.calibration_bins``): ``mean_predicted``, ``observed_rate``,
    ``count``; empty bins (``None`` values) are skipped.
    """
    points = [b for b in bins or [] if b.get("mean_predicted") is not None and b.get("observed_rate") is not None]
    if not points:
        return empty_figure("No calibration data", height=340)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color=NEUTRAL, dash="dash"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=[p["mean_predicted"] for p in points], y=[p["observed_rate"] for p in points], mode="lines+markers",
        name="hybrid", line=dict(color=HIGHLIGHT), customdata=[p.get("count") for p in points],
        marker=dict(size=[6 + 14 * math.sqrt(p.get("count") or 0) / math.sqrt(max(q.get("count") or 0
                                                                                   for q in points) or 1)
                          for p in points]),
        hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>n = %{customdata:,}<extra></extra>"))
    fig.update_xaxes(title="mean predicted probability", range=[0, 1])
    fig.update_yaxes(title="observed engagement rate", range=[0, 1])
    return _layout(fig, title, height=340)


def training_curves_figure(curves: dict[str, dict[str, list[float]]], title: str = "Training curves") -> go.Figure:
    """Total loss per epoch, one panel per model with its own loss axis (training solid, validation dotted).

    ``curves``: ``{model: {"loss": [...], "val_loss": [...], <component losses>...}}``. Losses of
    different models are on different scales, so a shared axis would draw the smaller ones flat;
    component losses are left out.
    """
    models = [m for m, hist in (curves or {}).items() if any(hist.get(k) for k in ("loss", "val_loss"))]
    if not models:
        return empty_figure("No training curves recorded", height=340)
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=[model_label(m) for m in models],
                        horizontal_spacing=0.12 if len(models) > 1 else 0.0)
    in_legend: set[str] = set()
    for col, model in enumerate(models, start=1):
        for key, label, dash in (("loss", "Training", "solid"), ("val_loss", "Validation", "dot")):
            values = curves[model].get(key) or []
            if not values:
                continue
            fig.add_trace(go.Scatter(
                x=list(range(1, len(values) + 1)), y=values, mode="lines+markers", name=label, legendgroup=label,
                showlegend=label not in in_legend, line=dict(color=HIGHLIGHT if key == "loss" else "#c0392b", dash=dash),
                hovertemplate=f"{model_label(model)} · {label.lower()}<br>epoch %{{x}}: loss %{{y:.4f}}<extra></extra>"),
                row=1, col=col)
            in_legend.add(label)
        fig.update_xaxes(title_text="epoch", dtick=1, row=1, col=col)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    # the legend goes under the panels: above them it would cover their titles
    return _layout(fig, title, height=360, legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
                   margin=dict(_MARGIN, b=70))


def coherence_sweep_figure(sweep: list[dict], chosen_k: int | None = None,
                           title: str = "Topic coherence sweep (c_v)") -> go.Figure:
    """c_v per number of topics with the chosen k marked."""
    if not sweep:
        return empty_figure("No coherence sweep recorded", height=340)
    sweep = sorted(sweep, key=lambda s: s["k"])
    fig = go.Figure(go.Scatter(x=[s["k"] for s in sweep], y=[s["c_v"] for s in sweep], mode="lines+markers",
                               name="c_v", line=dict(color=HIGHLIGHT),
                               hovertemplate="k = %{x}: c_v %{y:.3f}<extra></extra>"))
    if chosen_k is not None:
        chosen = [s for s in sweep if s["k"] == chosen_k]
        if chosen:
            fig.add_trace(go.Scatter(x=[chosen_k], y=[chosen[0]["c_v"]], mode="markers+text", name="chosen",
                                     marker=dict(color=ORACLE, size=14, symbol="star"),
                                     text=[f"chosen k = {chosen_k}"], textposition="middle left"))
    fig.update_xaxes(title="number of topics k", dtick=1)
    fig.update_yaxes(title="c_v coherence")
    return _layout(fig, title, height=340)
