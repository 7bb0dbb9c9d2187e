"""Calibrated holds: the previous code is held with the model's untempered probability."""
from __future__ import annotations

import numpy as np

from engine.prior.sampling import filtered_probs, hold_calibrated_probs, sample

K = 8


def _logits(hold: float, held: int = 2) -> np.ndarray:
    """One row where the held code has probability `hold` and the rest share 1 - hold unevenly."""
    rest = np.linspace(1.0, 2.0, K - 1)
    p = np.insert(rest / rest.sum() * (1 - hold), held, hold)
    return np.log(p)[None]


def test_the_hold_share_is_untempered_and_the_rest_follows_the_filters():
    logits, held = _logits(0.9), np.array([2])
    probs = hold_calibrated_probs(logits, 0.5, 0, 0.95, held)[0]
    assert abs(probs.sum() - 1) < 1e-12 and abs(probs[2] - 0.9) < 1e-12
    others = filtered_probs(np.where(np.arange(K) == 2, -np.inf, logits), 0.5, 0, 0.95)[0]
    np.testing.assert_allclose(probs[np.arange(K) != 2], 0.1 * others[np.arange(K) != 2], atol=1e-12)
    # plain tempering would make the hold near-certain: that is what drew out drones
    assert filtered_probs(logits, 0.5, 0, 0.95)[0, 2] > 0.99


def test_focus_counts_the_held_code_and_focus_one_stays_greedy():
    logits = _logits(0.6)
    np.testing.assert_array_equal(hold_calibrated_probs(logits, 0.7, 1, 1.0, np.array([2]))[0],
                                  np.eye(K)[2])  # the held code is the likeliest: greedy holds it
    # a held code outside the K likeliest: Focus wins, plain filtered probabilities
    weak = np.log(np.array([[0.3, 0.3, 0.3, 0.02, 0.02, 0.02, 0.02, 0.02]]))
    np.testing.assert_array_equal(hold_calibrated_probs(weak, 0.7, 3, 1.0, np.array([5])),
                                  filtered_probs(weak, 0.7, 3, 1.0))


def test_run_lengths_follow_the_model_at_any_temperature():
    """A chain that holds with probability 0.9 (runs of 10 frames): tempered at 0.5 the runs grow
    about tenfold, calibrated they stay near 10."""
    rng = np.random.default_rng(0)
    logits = np.log(np.full((K, K), 0.1 / (K - 1)) + np.eye(K) * (0.9 - 0.1 / (K - 1)))  # row = held code

    def mean_run(calibrated: bool) -> float:
        code, changes, steps = 0, 0, 4000
        for _ in range(steps):
            row = logits[code][None]
            p = (hold_calibrated_probs(row, 0.5, 0, 1.0, np.array([code])) if calibrated
                 else filtered_probs(row, 0.5, 0, 1.0))
            new = int(sample(p, rng)[0])
            changes, code = changes + (new != code), new
        return steps / max(changes, 1)

    assert 8 < mean_run(True) < 12.5
    assert mean_run(False) > 50


def test_the_generation_step_draws_what_the_batched_functions_draw():
    """`choose` (a row at a time, the generation loop's hot path) gives the codes `sample` gives from
    `hold_calibrated_probs` / `filtered_probs` on the same random stream, across the settings' edges."""
    from engine.prior.sampling import choose
    g = np.random.default_rng(3)
    for trial in range(600):
        batch, k = int(g.choice([1, 4])), int(g.choice([1, 2, 8, 32]))
        logits = (g.standard_normal((batch, k)) * g.uniform(0.3, 8)).astype(np.float32)
        if trial % 5 == 0:
            logits[:, :k // 2] = logits[:, :1]  # ties at the top-k and top-p thresholds
        temperature, top_k = float(g.choice([0.3, 1.0, 1.7])), int(g.choice([0, 1, 2, 5, 40]))
        top_p = float(g.choice([1.0, 0.95, 0.5]))
        held = g.integers(k, size=batch) if trial % 4 else None
        probs = (filtered_probs(logits, temperature, top_k, top_p) if held is None
                 else hold_calibrated_probs(logits, temperature, top_k, top_p, held))
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
        want = sample(probs, np.random.default_rng(trial))
        got = choose(logits, temperature, top_k, top_p, held, np.random.default_rng(trial))
        np.testing.assert_array_equal(got, want)
