"""The policy-value ceiling: its learned oracles recover planted effects and stay under the truth."""
import json

import numpy as np

from benchmarks.ceiling import _map_effects, main


def test_map_effects_recover_planted_group_effects_and_shrink_unseen_groups():
    rng = np.random.default_rng(0)
    n_groups, n = 40, 60_000
    planted = rng.normal(0.0, 0.8, n_groups)
    group = rng.integers(0, n_groups - 5, n)  # the last five groups are never observed
    offset = rng.normal(-0.5, 1.0, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(offset + planted[group])))).astype(float)

    (fitted,) = _map_effects(offset, y, [(group, n_groups, 0.8 ** 2)])

    seen = slice(0, n_groups - 5)
    assert np.corrcoef(fitted[seen], planted[seen])[0, 1] > 0.97
    assert np.abs(fitted[seen] - planted[seen]).max() < 0.25
    assert np.allclose(fitted[n_groups - 5:], 0.0, atol=1e-6)  # no data: the prior's mean


def test_map_effects_fit_crossed_effects_jointly():
    rng = np.random.default_rng(1)
    n = 80_000
    a, b = rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 12)
    i, j = rng.integers(0, 30, n), rng.integers(0, 12, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(a[i] + b[j])))).astype(float)

    fa, fb = _map_effects(np.zeros(n), y, [(i, 30, 0.25), (j, 12, 0.25)])

    # a common shift may move between the two groups; the contrasts are identified
    assert np.corrcoef(fa, a)[0, 1] > 0.95 and np.corrcoef(fb, b)[0, 1] > 0.9
    assert np.allclose(fa[:, None] + fb[None, :], a[:, None] + b[None, :], atol=0.3)


def test_ceiling_orders_its_oracles_on_a_small_world(capsys):
    assert main(["--hcps", "400", "--months", "8", "--seed", "3", "--policy-hcps", "300", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ratios = result["value_ratio@10"]
    assert set(ratios) >= {"population_parameters", "population_learned", "learned_with_hcp_posteriors",
                           "learned_with_true_specialty", "bayes_cluster_posterior", "known_cluster"}
    assert all(np.isfinite(r) and r <= 1.0 + 1e-9 for r in ratios.values())
    # knowing the content parameters beats learning them from the log; every informed oracle beats random
    assert ratios["population_learned"] <= ratios["population_parameters"] + 0.02
    assert min(ratios.values()) > 0.0
