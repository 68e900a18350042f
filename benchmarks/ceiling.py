"""How much policy value the synthetic world lets any model reach: value_ratio@10 of informed oracles.

    python benchmarks/ceiling.py [--json] [--hcps N --months M --seed S] [--abstracts CSV] [--policy-hcps N]

``--abstracts`` builds the world from real abstracts, as ``make run`` does when the seed file is
there (``python -m engine bootstrap`` prints the file); without it, the world's own content.

Scores the same top-10 policy value as ``python -m engine evaluate`` (temporal split, 90 days
held out, a seeded sample of HCPs, eligible pairs only) for oracles that know every true
parameter of the world except parts of the HCP's hidden topic interests:

- ``population_parameters``: every parameter shared by HCPs true, but nothing of the HCP's own:
  interests at its specialty's mean, channel affinities at the population's mean. A model
  learns the HCP's own parameters only from its few touches, so it lands between this and
  ``bayes_cluster_posterior``;
- ``specialty_interests``: the interest term replaced by its mean over the HCP's specialty;
- ``bayes_cluster_posterior``: the mean over the posterior of the HCP's taste cluster given its
  observed touches and outcomes before the cutoff (true prototypes, every other term true):
  the best any model can infer about interests from the data;
- ``known_cluster``: the HCP's taste cluster at the start given (not observable);
- ``no_drift``: the interests of the start of the period (not observable).

A model that learns everything else perfectly cannot beat ``bayes_cluster_posterior``. But a
model does not know the content parameters either: it learns them from the same log. So two
oracles learn what a model must learn, by the best estimator there is for it (MAP with the true
prior spreads), and keep everything else true (the themes, effect sizes, history state):

- ``population_learned``: ``population_parameters`` with each content's appeal, format fit per
  channel and specialty interest learned from the touches before the cutoff;
- ``learned_with_hcp_posteriors``: that, plus the HCP's channel affinities learned from its own
  touches and its interests beyond its specialty's from the Bayes posterior of its taste cluster;
- ``learned_with_true_specialty``: the same with the specialty's mean interests handed over true
  (only appeal and format fit learned): an upper bound on any smarter estimate of them.

``learned_with_hcp_posteriors`` is the ceiling a model trained on this log can reach; it is
still optimistic (it is handed the true themes and the form of the world's logit).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import CHANNELS  # noqa: E402
from engine.evaluation.protocols import _top_k_value  # noqa: E402
from engine.models.data import make_split  # noqa: E402
from engine.progress import QUIET, Progress  # noqa: E402
from engine.synth import WorldConfig, generate_world  # noqa: E402
from engine.synth.oracle import interests  # noqa: E402


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


class InformedOracle:
    """The oracle's logit at a day split into its terms, with the interest term replaceable."""

    def __init__(self, oracle, day: float):
        self.oracle, self.day = oracle, day
        hd, fx = oracle.hidden, oracle.effects
        self.k = hd.phi.shape[1]
        age = np.maximum(0.0, day - hd.publication_day)
        self.content = hd.quality + fx.fresh * np.exp(-age / fx.tau_fresh)

    def interest_term(self, theta: np.ndarray) -> np.ndarray:
        """``[n, n_contents]`` topic-match term of interest vectors ``theta``."""
        fx, hd = self.oracle.effects, self.oracle.hidden
        return fx.topic * np.log(self.k * (theta @ hd.phi.T) + 0.1)

    def probabilities(self, hcp: np.ndarray, match: np.ndarray, affinity: np.ndarray | None = None,
                      content_channel: np.ndarray | None = None) -> np.ndarray:
        """``[n, n_contents, n_channels]`` true probability with ``match`` as the interest term
        (and ``affinity`` ``[n, n_channels]`` as the channel affinities, ``content_channel``
        ``[n_contents, n_channels]`` as the format fit; default the true ones)."""
        o, hd, fx = self.oracle, self.oracle.hidden, self.oracle.effects
        load, gap, momentum, follow = o._state(hcp, np.full(len(hcp), self.day))
        too_soon = np.maximum(0.0, 1.0 - gap / hd.cadence[hcp])
        hcp_term = hd.intercept[hcp] - hd.fatigue[hcp] * load - fx.too_soon * too_soon
        affinity = hd.affinity[hcp] if affinity is None else affinity
        channel = hd.channel_base + affinity + fx.momentum * np.log1p(momentum)
        item = match + fx.follow * np.log1p(follow @ hd.phi.T) + self.content + hcp_term[:, None]
        content_channel = hd.content_channel if content_channel is None else content_channel
        z = item[:, :, None] + content_channel[None] + channel[:, None, :]
        return 1.0 / (1.0 + np.exp(-z))


def touch_interest_term(hidden, effects, hcp, content, day) -> np.ndarray:
    """The true interest term of aligned touches ``(hcp, content, day)``."""
    theta = interests(hidden, hcp, day)
    return effects.topic * np.log(hidden.phi.shape[1] * np.einsum("nk,nk->n", theta, hidden.phi[content]) + 0.1)


def cluster_posterior(oracle, hcp, day, specialty, cluster_match):
    """``[n, n_clusters]`` posterior of each HCP's start cluster from its touches before ``day``.

    ``specialty`` is the specialty code of every HCP of the oracle; ``cluster_match[s, c]`` is the
    mean interest term ``[n_contents]`` of specialty ``s``, cluster ``c``;
    every other term of each touch's logit is the truth, so only the interests are inferred."""
    hd, fx, ev = oracle.hidden, oracle.effects, oracle.events
    query, event, _ = ev.before(hcp, np.full(len(hcp), day))
    h, item = hcp[query], ev.content[event]
    at = oracle.start + pd.to_timedelta(ev.day[event], unit="D")
    p = np.clip(oracle.probability(h, item, ev.channel[event], at), 1e-9, 1 - 1e-9)
    rest = np.log(p / (1 - p)) - touch_interest_term(hd, fx, h, item, ev.day[event])
    engaged = ev.engaged[event]
    n_clusters = cluster_match.shape[1]
    log_lik = np.zeros((len(hcp), n_clusters))
    spec = specialty[h]
    for c in range(n_clusters):
        z = rest + cluster_match[spec, c, item]
        log_lik[:, c] = np.bincount(query, np.where(engaged, _log_sigmoid(z), _log_sigmoid(-z)), minlength=len(hcp))
    post = np.exp(log_lik - log_lik.max(axis=1, keepdims=True))
    return post / post.sum(axis=1, keepdims=True)


def _map_effects(offset, y, effects):
    """MAP random effects of a logistic model: ``logit = offset + sum_g w_g[index_g]``.

    ``effects`` is a list of ``(index [n], size, prior_variance)``; each ``w_g ~ N(0, variance)``.
    Returns the list of fitted ``w_g``."""
    from scipy.optimize import minimize

    sizes = [size for _, size, _ in effects]
    bounds = np.cumsum(sizes)[:-1]

    def loss(w):
        parts = np.split(w, bounds)
        z = offset + sum(part[index] for part, (index, _, _) in zip(parts, effects))
        g = 1.0 / (1.0 + np.exp(-z)) - y
        penalty = sum(part @ part / var for part, (_, _, var) in zip(parts, effects))
        grad = np.concatenate([np.bincount(index, g, size) + part / var
                               for part, (index, size, var) in zip(parts, effects)])
        return float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * penalty, grad

    fit = minimize(loss, np.zeros(sum(sizes)), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-6})
    return np.split(fit.x, bounds)


def logged_touches(world, day):
    """Every touch before ``day`` in the oracle's indices: ``h, i, c, touch_day, engaged, true logit``."""
    oracle = world.oracle
    frame = world.interactions
    touch_day = np.asarray(oracle.day_of(frame["timestamp"]), float)
    before = touch_day < day
    h = pd.Index(oracle.hcp_ids.astype(str)).get_indexer(frame["hcp_id"].astype(str))[before]
    i = pd.Index(oracle.content_ids.astype(str)).get_indexer(frame["content_id"].astype(str))[before]
    c = pd.Index(CHANNELS).get_indexer(frame["channel"])[before]
    y = frame["engaged"].to_numpy(bool)[before].astype(float)
    p = np.clip(oracle.interaction_probability[before], 1e-9, 1 - 1e-9)
    return h, i, c, touch_day[before], y, np.log(p / (1 - p))


def learned_content_parameters(world, touches, spec_codes, spec_mean, learn_specialty: bool = True):
    """MAP estimates of the content parameters a model has to learn from the logged touches.

    Fits ``a_i + b_ic + s_{specialty, i}`` (content appeal, format fit, the specialty's mean
    interest) by penalised logistic regression on every touch before the cutoff, with every
    other term of each touch's logit given as its true value (an offset) and Gaussian priors of
    the true spreads: the most any model could know of these parameters from the same log.
    With ``learn_specialty=False`` the specialty's mean interests are handed over true and only
    ``a`` and ``b`` are learned. Returns ``(a [i], b [i, c], s [specialties, i])``: ``a_i``
    holds the appeal and the mean interest of all specialties, ``s`` each specialty's
    difference from it.
    """
    hd, fx = world.oracle.hidden, world.oracle.effects
    h, i, c, touch_day, y, logit = touches
    n_i, n_c, n_s = hd.quality.shape[0], hd.content_channel.shape[1], spec_mean.shape[0]
    content_mean = spec_mean.mean(axis=0)
    effects = [(i * n_c + c, n_i * n_c, float(np.var(hd.content_channel)))]
    offset = logit - hd.quality[i] - hd.content_channel[i, c]
    if learn_specialty:
        offset = offset - touch_interest_term(hd, fx, h, i, touch_day)
        effects += [(i, n_i, float(np.var(hd.quality + content_mean))),
                    (spec_codes[h] * n_i + i, n_s * n_i, float(np.var(spec_mean - content_mean)))]
        b, a, s = _map_effects(offset, y, effects)
        return a, b.reshape(n_i, n_c), s.reshape(n_s, n_i)
    b, a = _map_effects(offset, y, effects + [(i, n_i, float(np.var(hd.quality)))])
    return a + content_mean, b.reshape(n_i, n_c), spec_mean - content_mean


def learned_affinities(world, touches, hcp):
    """MAP channel affinities ``[len(hcp), n_channels]`` of the HCPs ``hcp`` from their own touches
    (every other term true; prior: the population's mean per channel and its mean spread)."""
    hd = world.oracle.hidden
    h, _, c, _, y, logit = touches
    mine = pd.Index(hcp).get_indexer(h)
    keep = mine >= 0
    n_c = hd.affinity.shape[1]
    mean = hd.affinity.mean(axis=0)
    offset = logit[keep] - hd.affinity[h[keep], c[keep]] + mean[c[keep]]
    cell = mine[keep] * n_c + c[keep]
    (w,) = _map_effects(offset, y[keep], [(cell, len(hcp) * n_c, float(hd.affinity.var(axis=0).mean()))])
    return mean + w.reshape(len(hcp), n_c)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hcps", type=int, default=40_000)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--abstracts", help="real PubMed CSV the world's contents come from (as `make run` builds it)")
    parser.add_argument("--policy-hcps", type=int, default=2_000, help="HCPs sampled (as evaluate does)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    progress = QUIET if args.json else Progress()
    started = time.perf_counter()

    world = generate_world(WorldConfig(n_hcps=args.hcps, months=args.months, seed=args.seed,
                                                 abstracts=args.abstracts), progress=progress)
    oracle, hd = world.oracle, world.oracle.hidden
    if hd.cluster_start is None:
        raise SystemExit("this world's truth does not record taste clusters")
    data = make_split(world.frames())
    day = float(oracle.day_of(data.cutoff))
    # the evaluation's sample: seeded, HCPs with a consented channel, in the data's index order
    rng = np.random.default_rng(0)
    candidates = np.flatnonzero(data.consent.any(axis=1))
    sample = np.sort(rng.choice(candidates, size=min(args.policy_hcps, len(candidates)), replace=False))
    hcp = pd.Index(oracle.hcp_ids.astype(str)).get_indexer(data.hcp_ids[sample])
    to_data = pd.Index(oracle.content_ids.astype(str)).get_indexer(data.content_ids)
    eligible = data.eligible(sample)

    spec_codes, spec_names = pd.factorize(world.hcps.set_index("hcp_id").loc[oracle.hcp_ids, "specialty"])
    informed = InformedOracle(oracle, day)
    everyone = np.arange(len(oracle.hcp_ids))
    match_all = informed.interest_term(interests(hd, everyone, day))          # [H, n_contents]
    n_spec, n_clusters = len(spec_names), int(hd.cluster_start.max()) + 1
    spec_mean = np.stack([match_all[spec_codes == s].mean(axis=0) for s in range(n_spec)])
    cluster_match = np.empty((n_spec, n_clusters, match_all.shape[1]))
    for s in range(n_spec):
        for c in range(n_clusters):
            mine = (spec_codes == s) & (hd.cluster_start == c)
            cluster_match[s, c] = match_all[mine].mean(axis=0) if mine.any() else spec_mean[s]
    progress("ceiling", f"{len(sample):,} HCPs, cutoff {data.cutoff.date()}, {n_clusters} taste clusters")

    truth = informed.probabilities(hcp, match_all[hcp])[:, to_data, :]

    def value(pairs):
        masked = np.where(eligible, pairs, -np.inf)
        channel = masked.argmax(axis=2)
        picked = np.take_along_axis(truth, channel[:, :, None], axis=2)[:, :, 0]
        return float(_top_k_value(picked, masked.max(axis=2), 10).mean())

    per_content = np.where(eligible, truth, 0).sum(axis=2) / np.maximum(eligible.sum(axis=2), 1)
    random_value = float((per_content.sum(axis=1) / eligible.any(axis=2).sum(axis=1)).mean())
    oracle_value = value(truth)
    post = cluster_posterior(oracle, hcp, day, spec_codes, cluster_match)
    posterior_match = np.einsum("nc,nci->ni", post, cluster_match[spec_codes[hcp]])
    variants = {
        "specialty_interests": spec_mean[spec_codes[hcp]],
        "bayes_cluster_posterior": posterior_match,
        "known_cluster": cluster_match[spec_codes[hcp], hd.cluster_start[hcp]],
        "no_drift": informed.interest_term(hd.theta_start[hcp]),
    }

    def ratio(probabilities):
        return (value(probabilities[:, to_data, :]) - random_value) / (oracle_value - random_value)

    ratios = {name: ratio(informed.probabilities(hcp, match)) for name, match in variants.items()}
    # what the population alone tells: every shared parameter true, the HCP's own ones (interests
    # beyond its specialty, channel affinities) at their population means
    mean_affinity = np.broadcast_to(hd.affinity.mean(axis=0), (len(hcp), hd.affinity.shape[1]))
    population = informed.probabilities(hcp, variants["specialty_interests"], mean_affinity)
    # the same with what a model learns from the log instead of knowing: the content parameters,
    # then also the HCP's affinities and its interests beyond its specialty's (Bayes posterior)
    touches = logged_touches(world, day)
    affinity_map = learned_affinities(world, touches, hcp)
    beyond_specialty = posterior_match - spec_mean[spec_codes[hcp]]

    def learned_probabilities(learn_specialty):
        """``(population, with the HCP's posteriors)`` with the content parameters learned."""
        a, b, s = learned_content_parameters(world, touches, spec_codes, spec_mean, learn_specialty)
        match = a[None, :] + s[spec_codes[hcp]] - hd.quality[None, :]
        return (informed.probabilities(hcp, match, mean_affinity, content_channel=b),
                informed.probabilities(hcp, match + beyond_specialty, affinity_map, content_channel=b))

    population_learned, with_posteriors = learned_probabilities(True)
    ratios = {"population_parameters": ratio(population),
              "population_learned": ratio(population_learned),
              "learned_with_hcp_posteriors": ratio(with_posteriors),
              "learned_with_true_specialty": ratio(learned_probabilities(False)[1]),
              **ratios}
    result = {"hcps": args.hcps, "months": args.months, "seed": args.seed, "policy_hcps": len(sample),
              "random_value": round(random_value, 4), "oracle_value": round(oracle_value, 4),
              "value_ratio@10": {k: round(v, 3) for k, v in ratios.items()},
              "posterior_of_true_cluster": round(float(post[np.arange(len(hcp)), hd.cluster_start[hcp]].mean()), 3),
              "cluster_prior": round(1 / n_clusters, 3), "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"Policy value ceiling, {args.hcps:,} HCPs x {args.months} months (seed {args.seed}), "
          f"{len(sample):,} HCPs at {data.cutoff.date()}")
    print(f"  random {random_value:.4f}   oracle {oracle_value:.4f}   (value_ratio 0 and 1)")
    for name, r in ratios.items():
        print(f"  {name:28s} value_ratio@10 {r:.3f}")
    print(f"  posterior of the true cluster {result['posterior_of_true_cluster']:.3f} (prior {1 / n_clusters:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
