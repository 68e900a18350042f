"""Readable names of the models and metrics the evaluation reports (the Models page and its charts)."""
from __future__ import annotations

#: How each evaluated model is named on screen.
MODEL_LABELS = {
    "hybrid": "Hybrid (served)", "collaborative": "Collaborative filtering", "sequence": "Sequence (LSTM)",
    "popularity": "Popularity", "specialty_popularity": "Specialty popularity", "topics": "Topics only",
    "random": "Random", "oracle": "Oracle (true probabilities)",
}

#: (name, what it measures) of each metric of the evaluation report.
METRIC_LABELS = {
    "ndcg@10": ("Ranking quality (NDCG@10)", "how high the content an HCP engaged with ranks in the top 10; 1 = first"),
    "recall@10": ("Recall@10", "share of the content an HCP engaged with that is in the top 10"),
    "hit_rate@10": ("Hit rate@10", "share of HCPs with at least one engaged content in the top 10"),
    "mrr": ("Mean reciprocal rank", "1 / the rank of the first engaged content, averaged over HCPs"),
    "value_ratio@10": ("Value vs oracle@10", "expected engagements of the top 10, as a share of the oracle's"),
    "policy_value@10": ("Expected engagements@10", "true engagement probability summed over the top 10"),
    "coverage": ("Catalogue coverage", "share of the catalogue recommended to someone"),
    "channel_accuracy": ("Channel accuracy", "the channel of a held-out touch ranked first"),
    "next_channel_accuracy": ("Next-channel accuracy", "the channel of the next touch predicted"),
    "channel_log_loss": ("Channel log loss", "lower is better"),
    "engagement_auc": ("Engagement AUC", "engaged touches scored above the others; 0.5 = chance"),
    "engagement_log_loss": ("Engagement log loss", "lower is better"),
    "calibration_error": ("Calibration error", "gap between predicted and observed engagement; lower is better"),
    "gap_mae_days": ("Timing error (days)", "mean error of the predicted days to the next touch"),
    "seconds": ("Evaluation time (s)", "time to score the test period"),
    "n_hcps_ranked": ("HCPs ranked", "HCPs with engagement in the test period"),
}


def model_label(name: str) -> str:
    """"specialty_popularity" -> "Specialty popularity" (known names from :data:`MODEL_LABELS`)."""
    if name in MODEL_LABELS:
        return MODEL_LABELS[name]
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def metric_label(name: str) -> str:
    """"gap_mae_days" -> "Timing error (days)" (known names from :data:`METRIC_LABELS`)."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name][0]
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def metric_help(name: str) -> str:
    """What a metric measures (empty when unknown)."""
    return METRIC_LABELS.get(name, ("", ""))[1]
