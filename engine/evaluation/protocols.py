"""Evaluate Recommenders on a :class:`engine.models.data.TrainingData` split.

``temporal``: full-catalogue ranking (no sampled negatives) of the contents each HCP engaged
with in the test window, items engaged before the cutoff removed from every ranking; touch-level
channel / engagement metrics on held-out touches; next-touch gap and channel; and the policy
value of each model's top-k eligible (content, channel) pairs scored by the oracle.

``loo-sampled100``: each HCP's held-out item ranked among its 100 sampled negatives.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from engine.evaluation import metrics as M
from engine.models.base import BATCH, optional
from engine.models.baselines import OracleRecommender
from engine.progress import QUIET
from engine.ranking import top_k

def metric_keys(k: int) -> tuple[str, ...]:
    """Metric keys every model gets (``None`` where a metric does not apply)."""
    return (f"ndcg@{k}", f"recall@{k}", "mrr", f"hit_rate@{k}", f"value_ratio@{k}", f"policy_value@{k}",
            "coverage", "channel_accuracy", "channel_log_loss", "engagement_auc", "engagement_log_loss",
            "calibration", "calibration_error", "gap_mae_days", "next_channel_accuracy")


def _float(value) -> float | None:
    """JSON-safe float: ``None`` for missing / nan."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _sample(values: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or len(values) <= n:
        return values
    return np.sort(rng.choice(values, size=n, replace=False))


# ----------------------------------------------------------------------------- temporal ranking
def _ranking_temporal(data, models, k, hcps, progress) -> dict[str, dict]:
    test = data.test[data.test["engaged"]]
    test = test[test["hcp_idx"].isin(hcps)].sort_values("hcp_idx", kind="stable")
    test_hcp, test_content = test["hcp_idx"].to_numpy(), test["content_idx"].to_numpy()
    per_model = {name: {"ndcg": [], "recall": [], "rr": [], "hit": [], "items": np.zeros(data.n_contents, bool)}
                 for name in models}
    for start in range(0, len(hcps), BATCH):
        batch = hcps[start:start + BATCH]
        excluded = data.engaged_mask(batch)
        relevant = np.zeros_like(excluded)
        # hcps and the test rows are sorted by HCP: the batch's rows are one slice
        lo, hi = np.searchsorted(test_hcp, batch[0], side="left"), np.searchsorted(test_hcp, batch[-1], side="right")
        relevant[np.searchsorted(batch, test_hcp[lo:hi]), test_content[lo:hi]] = True
        relevant &= ~excluded
        keep = relevant.any(axis=1)
        if not keep.any():
            continue
        batch, excluded, relevant = batch[keep], excluded[keep], relevant[keep]
        n_relevant = relevant.sum(axis=1)
        for name, model in models.items():
            scores = np.array(model.score_batch(batch), dtype=float)
            scores[excluded] = -np.inf
            top = top_k(scores, k)
            acc = per_model[name]
            hits = np.take_along_axis(relevant, top, axis=1)
            acc["ndcg"].append(M.ndcg_at_k(hits, n_relevant))
            acc["recall"].append(M.recall_at_k(hits, n_relevant))
            acc["hit"].append(M.hit_rate_at_k(hits))
            acc["rr"].append(M.reciprocal_rank(M.first_relevant_rank(scores, relevant)))
            acc["items"][top.ravel()] = True
        progress.bar("evaluate: ranking", min(start + BATCH, len(hcps)), len(hcps))
    out = {}
    for name, acc in per_model.items():
        if not acc["ndcg"]:
            out[name] = {}
            continue
        out[name] = {f"ndcg@{k}": np.mean(np.concatenate(acc["ndcg"])),
                     f"recall@{k}": np.mean(np.concatenate(acc["recall"])),
                     f"hit_rate@{k}": np.mean(np.concatenate(acc["hit"])),
                     "mrr": np.mean(np.concatenate(acc["rr"])),
                     "coverage": acc["items"].mean(),
                     "n_hcps_ranked": int(sum(len(a) for a in acc["ndcg"]))}
    return out


# ----------------------------------------------------------------------------- leave-one-out
def _ranking_loo(data, models, k, hcps, progress) -> dict[str, dict]:
    """Rank each held-out item among its 100 negatives; ties count against the model."""
    test = data.test.reset_index(drop=True)
    rows = np.flatnonzero(test["hcp_idx"].isin(hcps).to_numpy())
    out = {}
    for name, model in models.items():
        if isinstance(model, OracleRecommender):
            out[name] = {}  # the oracle scores at one cutoff, not at each HCP's own test time
            continue
        ranks = np.empty(len(rows))
        items = np.zeros(data.n_contents, bool)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            scores = np.asarray(model.score_batch(test["hcp_idx"].to_numpy()[chunk]), dtype=float)
            positive = test["content_idx"].to_numpy()[chunk]
            candidates = np.column_stack([positive, data.test_negatives[chunk]])
            cand_scores = np.take_along_axis(scores, candidates, axis=1)
            ranks[start:start + len(chunk)] = 1 + (cand_scores[:, 1:] >= cand_scores[:, :1]).sum(axis=1)
            top = np.take_along_axis(candidates, top_k(cand_scores, k), axis=1)
            items[top.ravel()] = True
        hits = (ranks[:, None] == np.arange(1, k + 1)[None, :])
        ones = np.ones(len(ranks), dtype=np.int64)
        out[name] = {f"ndcg@{k}": np.mean(M.ndcg_at_k(hits, ones)), f"recall@{k}": np.mean(M.recall_at_k(hits, ones)),
                     f"hit_rate@{k}": np.mean(M.hit_rate_at_k(hits)), "mrr": np.mean(M.reciprocal_rank(ranks)),
                     "coverage": items.mean(), "n_hcps_ranked": len(rows)}
        progress("evaluate", f"{name}: leave-one-out ranking of {len(rows):,} HCPs")
    return out


# ----------------------------------------------------------------------------- touches
def _touch_metrics(touches: pd.DataFrame, model, with_engagement: bool) -> dict:
    out: dict = {}
    engaged = touches["engaged"].to_numpy(dtype=bool)
    p = model.touch_engagement_probability(touches) if with_engagement else None
    if p is not None and len(touches):
        p = np.asarray(p, dtype=float)
        bins = M.calibration_bins(engaged, p)
        out.update({"engagement_auc": M.roc_auc(engaged, p), "engagement_log_loss": M.binary_log_loss(engaged, p),
                    "calibration": bins, "calibration_error": M.expected_calibration_error(bins)})
    used = touches[engaged]
    if len(used):
        probs = model.touch_channel_probabilities(used)
        if probs is not None:
            labels = used["channel_idx"].to_numpy()
            out.update({"channel_accuracy": M.accuracy(probs, labels),
                        "channel_log_loss": M.categorical_log_loss(probs, labels)})
    return out


def _next_touch_metrics(data, models, hcps) -> dict[str, dict]:
    """Gap (days) from each HCP's last touch before the cutoff to its first held-out touch, and its channel."""
    history = data.history
    last = history.groupby("hcp_idx")["timestamp"].max()
    first = data.test.sort_values("timestamp", kind="stable").drop_duplicates("hcp_idx").set_index("hcp_idx")
    both = np.intersect1d(np.intersect1d(last.index.to_numpy(), first.index.to_numpy()), hcps)
    if not len(both):
        return {name: {} for name in models}
    actual_gap = (first.loc[both, "timestamp"].to_numpy() - last.loc[both].to_numpy()) / np.timedelta64(1, "D")
    actual_channel = first.loc[both, "channel_idx"].to_numpy()
    out = {}
    for name, model in models.items():
        res = {}
        gaps, chans = [], []
        for start in range(0, len(both), BATCH):
            batch = both[start:start + BATCH]
            gaps.append(optional(model.next_gap_days, batch))
            chans.append(optional(model.next_channel_probabilities, batch))
        if all(g is not None for g in gaps):
            res["gap_mae_days"] = float(np.mean(np.abs(np.concatenate(gaps) - actual_gap)))
        if all(c is not None for c in chans):
            res["next_channel_accuracy"] = M.accuracy(np.concatenate(chans), actual_channel)
        out[name] = res
    return out


# ----------------------------------------------------------------------------- policy value
def _default_channels(data, hcp_idx: np.ndarray) -> np.ndarray:
    """Each HCP's most used channel in train among the consented ones (global usage breaks ties / fills gaps)."""
    train = data.train
    n_ch = data.n_channels
    use = np.bincount(train["hcp_idx"].to_numpy() * n_ch + train["channel_idx"].to_numpy(),
                      minlength=data.n_hcps * n_ch).reshape(data.n_hcps, n_ch)[hcp_idx].astype(float)
    global_use = np.bincount(train["channel_idx"].to_numpy(), minlength=n_ch)
    use += 1e-6 * global_use / max(global_use.max(), 1)
    use[~data.consent[hcp_idx]] = -1.0
    return use.argmax(axis=1)


def _top_k_value(content_value: np.ndarray, rank_score: np.ndarray, k: int) -> np.ndarray:
    """Mean true value of each row's top-k contents by ``rank_score`` (``-inf`` = ineligible)."""
    top = top_k(rank_score, k)
    chosen = np.take_along_axis(rank_score, top, axis=1) > -np.inf
    values = np.take_along_axis(content_value, top, axis=1)
    return (values * chosen).sum(axis=1) / np.maximum(chosen.sum(axis=1), 1)


def _policy_value(data, models, truth_model, k, hcps, progress) -> dict[str, float]:
    """Mean oracle probability of each model's top-k eligible (content, channel) pairs per HCP."""
    sums = {name: 0.0 for name in [*models, "__random__"]}
    n = 0
    for start in range(0, len(hcps), BATCH):
        batch = hcps[start:start + BATCH]
        eligible = data.eligible(batch)
        has_any = eligible.any(axis=(1, 2))
        batch, eligible = batch[has_any], eligible[has_any]
        if not len(batch):
            continue
        truth = np.asarray(truth_model.pair_scores(batch), dtype=float)
        content_ok = eligible.any(axis=2)
        # Random: the expected value of uniform picks = mean over eligible contents of the mean over eligible channels.
        per_content = np.where(eligible, truth, 0).sum(axis=2) / np.maximum(eligible.sum(axis=2), 1)
        sums["__random__"] += float((per_content.sum(axis=1) / content_ok.sum(axis=1)).sum())
        default = _default_channels(data, batch)
        rows = np.arange(len(batch))
        for name, model in models.items():
            pairs = model.pair_scores(batch)
            if pairs is not None:
                masked = np.where(eligible, np.asarray(pairs, dtype=float), -np.inf)
                channel = masked.argmax(axis=2)
                rank_score = masked.max(axis=2)
            else:
                score = np.asarray(model.score_batch(batch), dtype=float)
                probs = optional(model.channel_probabilities, batch)
                if probs is None:
                    channel = np.broadcast_to(default[:, None], content_ok.shape)
                    ok = eligible[rows[:, None], np.arange(data.n_contents)[None, :], channel]
                else:
                    channel = np.where(eligible, np.asarray(probs, dtype=float), -np.inf).argmax(axis=2)
                    ok = content_ok
                rank_score = np.where(ok, score, -np.inf)
            value = np.take_along_axis(truth, channel[:, :, None], axis=2)[:, :, 0]
            sums[name] += float(_top_k_value(value, rank_score, k).sum())
        n += len(batch)
        progress.bar("evaluate: policy value", min(start + BATCH, len(hcps)), len(hcps))
    if n == 0:
        return {}
    return {name: total / n for name, total in sums.items()} | {"__n__": n}


# ----------------------------------------------------------------------------- entry point
def evaluate_models(data, models: dict, k: int = 10, progress=QUIET, seed: int = 0,
                    max_ranking_hcps: int | None = 10_000, max_policy_hcps: int = 2_000,
                    max_touches: int | None = 50_000, oracle=None) -> dict:
    """Evaluate fitted Recommenders on ``data`` under ``data.protocol``.

    Parameters
    ----------
    data : the :class:`~engine.models.data.TrainingData` the models were fit on.
    models : ``{name: Recommender}`` (``hybrid``, ``random``, ``popularity`` ...).
    k : cut-off of the ranking and policy metrics.
    seed : seeds the HCP and touch samples.
    max_ranking_hcps, max_policy_hcps, max_touches : sample sizes that keep full-size runs fast
        (``None``: everything).
    oracle : the synthetic world's truth (:class:`engine.synth.Oracle`), or ``None``. When given it
        is evaluated as the model ``oracle`` (:class:`OracleRecommender`), and the temporal protocol
        scores every model's policy value by it (``value_ratio``). Only the evaluation sees it.

    Returns
    -------
    dict
        ``{"protocol", "k", "cutoff", "n_hcps_ranked", "n_hcps_evaluated", "n_test_touches",
        "notes", "models": {name: {metric: value or None}}}``; JSON-serialisable.
    """
    if not models:
        raise ValueError("evaluate_models: no models to evaluate")
    truth = None
    if oracle is not None:
        if "oracle" in models:
            raise ValueError("evaluate_models: the model name 'oracle' is reserved for the world truth")
        truth = OracleRecommender(oracle).fit(data)
        models = {**models, "oracle": truth}
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    results = {name: {} for name in models}
    timings = {name: 0.0 for name in models}

    target_hcps = np.unique(data.test.loc[data.test["engaged"], "hcp_idx"].to_numpy())
    ranked_hcps = _sample(target_hcps, max_ranking_hcps, rng)
    progress("evaluate", f"{data.protocol}: ranking {len(ranked_hcps):,} of {len(target_hcps):,} HCPs with held-out engagement")
    for name, model in models.items():
        started = time.perf_counter()
        one = {name: model}
        if data.protocol == "temporal":
            results[name].update(_ranking_temporal(data, one, k, ranked_hcps, QUIET)[name])
        else:
            results[name].update(_ranking_loo(data, one, k, ranked_hcps, QUIET)[name])
        timings[name] += time.perf_counter() - started
        progress("evaluate", f"{name}: ranking done in {time.perf_counter() - started:.1f}s")

    touches = data.test
    if max_touches is not None and len(touches) > max_touches:
        touches = touches.iloc[np.sort(rng.choice(len(touches), size=max_touches, replace=False))]
    for name, model in models.items():
        started = time.perf_counter()
        # Leave-one-out test touches are all engaged: engagement metrics need the temporal window.
        results[name].update(_touch_metrics(touches, model, with_engagement=data.protocol == "temporal"))
        timings[name] += time.perf_counter() - started
    progress("evaluate", f"touch metrics on {len(touches):,} held-out touches")

    n_policy = 0
    if data.protocol == "temporal":
        for name, res in _next_touch_metrics(data, models, ranked_hcps).items():
            results[name].update(res)
        if truth is None:
            notes.append("no oracle (world truth) for this data: value_ratio is not computed")
        else:
            candidates = np.flatnonzero(data.consent.any(axis=1))
            policy_hcps = _sample(candidates, max_policy_hcps, rng)
            started = time.perf_counter()
            values = _policy_value(data, models, truth, k, policy_hcps, progress)
            n_policy = int(values.pop("__n__", 0))
            random_value = values.pop("__random__", float("nan"))
            oracle_value = values.get("oracle", float("nan"))
            for name, value in values.items():
                results[name][f"policy_value@{k}"] = value
                results[name][f"value_ratio@{k}"] = M.value_ratio(value, random_value, oracle_value)
            notes.append(f"policy value on a seeded sample of {n_policy:,} HCPs; random = expected value of "
                         f"uniform eligible picks ({random_value:.4f}), oracle = {oracle_value:.4f}")
            progress("evaluate", f"policy value on {n_policy:,} HCPs in {time.perf_counter() - started:.1f}s")
    else:
        notes.append("loo-sampled100: each HCP's last newly engaged content ranked among 100 sampled "
                     "never-touched contents (ties count against the model); policy value, gap and the "
                     "oracle's ranking apply to the temporal protocol only")

    models_out = {}
    for name in models:
        res = results[name]
        row = {key: (res.get(key) if key == "calibration" else _float(res.get(key))) for key in metric_keys(k)}
        row["n_hcps_ranked"] = res.get("n_hcps_ranked", 0)
        row["seconds"] = round(timings[name], 3)
        models_out[name] = row
    return {"protocol": data.protocol, "k": k, "cutoff": pd.Timestamp(data.cutoff).isoformat(),
            "n_hcps_ranked": int(len(ranked_hcps)), "n_hcps_evaluated": n_policy,
            "n_test_touches": int(len(touches)), "notes": notes, "models": models_out}

