"""Offline evaluation of recommenders: metric functions (:mod:`.metrics`), the temporal and
leave-one-out protocols (:mod:`.protocols`) and readable reports (:mod:`.report`)."""
from engine.evaluation.protocols import evaluate_models, metric_keys
from engine.evaluation.report import format_report

__all__ = ["evaluate_models", "format_report", "metric_keys"]
