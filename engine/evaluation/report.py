"""Human-readable rendering of an ``evaluate_models`` report."""
from __future__ import annotations

#: Column order of the table: ceiling first, then the model, then baselines, the floor last.
MODEL_ORDER = ("oracle", "hybrid", "collaborative", "sequence", "topics", "specialty_popularity",
               "popularity", "random", "hybrid_without_sequence", "hybrid_without_collaborative",
               "hybrid_without_topics")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def format_report(report: dict) -> str:
    """A fixed-width table, one row per metric and one column per model, then the notes."""
    k = report["k"]
    models = report["models"]
    names = [n for n in MODEL_ORDER if n in models] + [n for n in models if n not in MODEL_ORDER]
    rows = [f"ndcg@{k}", f"recall@{k}", "mrr", f"hit_rate@{k}", "coverage", f"value_ratio@{k}",
            f"policy_value@{k}", "channel_accuracy", "channel_log_loss", "engagement_auc",
            "engagement_log_loss", "calibration_error", "gap_mae_days", "next_channel_accuracy", "seconds"]
    label_width = max(len(r) for r in rows) + 2
    widths = [max(len(n), 8) + 2 for n in names]
    lines = [f"protocol {report['protocol']}, cutoff {report['cutoff'][:10]}, "
             f"{report['n_hcps_ranked']:,} HCPs ranked, {report['n_hcps_evaluated']:,} in the policy sample, "
             f"{report['n_test_touches']:,} held-out touches",
             "".ljust(label_width) + "".join(n.rjust(w) for n, w in zip(names, widths))]
    for metric in rows:
        lines.append(metric.ljust(label_width)
                     + "".join(_cell(models[n].get(metric)).rjust(w) for n, w in zip(names, widths)))
    lines.extend(f"note: {note}" for note in report.get("notes", []))
    return "\n".join(lines)
