"""Prior training: report contract, early stopping keeps the best checkpoint, memorisation checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import PriorConfig
from engine.errors import InputError
from engine.prior.memorisation import ngram_overlap, ngrams, overlap_report
from engine.prior.network import Prior
from engine.prior.train import Early, memorisation_report, train_prior

Q, K = 2, 8
REPORT_KEYS = {"val_perplexity", "train_perplexity", "ngram8_overlap", "ngram8_overlap_nontrivial",
               "heldout_ngram8_overlap_nontrivial", "warnings"}
TINY = dict(layers=1, dim=32, heads=2, context_frames=32, crop_frames=32, batch_size=8)


def markov_files(n_files: int, seed: int, chain_seed: int = 0) -> list[np.ndarray]:
    """A shared sparse Markov chain on level 0 (same 'instrument'); level 1 follows level 0."""
    chain = np.random.default_rng(chain_seed).dirichlet(np.full(K, 0.3), size=K)
    rng = np.random.default_rng(seed)
    files = []
    for _ in range(n_files):
        frames = int(rng.integers(30, 60))
        level0 = np.zeros(frames, dtype=np.int64)
        for t in range(1, frames):
            level0[t] = rng.choice(K, p=chain[level0[t - 1]])
        level1 = (level0 * 3 + (rng.random(frames) < 0.2)) % K
        files.append(np.stack([level0, level1]))
    return files


def test_report_has_the_issue_keys_and_sane_values():
    progress = []
    result = train_prior(markov_files(12, 0), markov_files(3, 1), K, PriorConfig(**TINY, max_steps=60),
                         seed=0, max_seconds=600, progress=progress.append)
    assert set(result.report) == REPORT_KEYS
    for key in ("val_perplexity", "train_perplexity"):
        assert len(result.report[key]) == Q and all(1.0 < v < K for v in result.report[key])
    for key in ("ngram8_overlap", "ngram8_overlap_nontrivial", "heldout_ngram8_overlap_nontrivial"):
        assert 0.0 <= result.report[key] <= 1.0
    assert progress and progress[-1]["step"] == result.stats["steps"] == 60
    assert Prior.from_tensors(result.tensors).levels == Q


def test_early_stopping_keeps_the_best_checkpoint():
    """Two long random files memorised by a model without dropout: validation on other random
    files gets worse after a while; the kept checkpoint is the best one seen, not the last."""
    rng = np.random.default_rng(0)
    train = [rng.integers(0, K, (Q, 200)) for _ in range(2)]
    val = [rng.integers(0, K, (Q, 100)) for _ in range(2)]
    cfg = PriorConfig(**{**TINY, "dim": 64}, dropout=0.0, token_corruption=0.0, learning_rate=5e-3,
                      eval_every_steps=10, patience_steps=60, max_steps=600)
    seen = []
    result = train_prior(train, val, K, cfg, seed=0, max_seconds=600, progress=seen.append)
    totals = {row["step"]: float(np.sum(np.log(row["val_perplexity"]))) for row in seen}
    best_step = min(totals, key=totals.get)
    assert result.stats["stopped_by"] == "early_stopping"
    assert result.stats["best_step"] == best_step < result.stats["steps"]
    np.testing.assert_allclose(np.log(result.report["val_perplexity"]).sum(), totals[best_step], atol=1e-3)


def test_memorised_prior_is_warned_about():
    """Validating on the training files lets a memorising prior through: all three warnings fire."""
    rng = np.random.default_rng(1)
    train = [rng.integers(0, K, (Q, 60)) for _ in range(2)]
    cfg = PriorConfig(**{**TINY, "dim": 64}, dropout=0.0, token_corruption=0.0, learning_rate=1e-2,
                      eval_every_steps=50, patience_steps=10_000, max_steps=200)
    result = train_prior(train, train, K, cfg, seed=0, max_seconds=600)
    assert max(result.report["train_perplexity"]) < 1.5
    text = " ".join(result.report["warnings"])
    assert "validation perplexity" in text and "memorised" in text
    # held-out files of the same random kind share no 8-grams: samples that copy training files do
    prior = Prior.from_tensors(result.tensors)
    fresh = [rng.integers(0, K, (Q, 60)) for _ in range(2)]
    report = memorisation_report(prior, train, fresh, seed=0)
    assert report["ngram8_overlap_nontrivial"] > report["heldout_ngram8_overlap_nontrivial"]
    assert any("more than held-out" in w for w in report["warnings"])


def test_augmented_variants_and_missing_validation_are_accepted():
    files = markov_files(6, 2)
    variants = [[f, np.roll(f, 1, axis=1)] for f in files]
    result = train_prior(variants, [], K, PriorConfig(**TINY, max_steps=20), seed=0, max_seconds=600)
    assert set(result.report) == REPORT_KEYS
    assert "held out" in result.report["warnings"][0]


def test_bad_codes_are_refused():
    with pytest.raises(InputError, match="lie in"):
        train_prior([np.full((Q, 10), K)], [], K, PriorConfig(**TINY))
    with pytest.raises(InputError, match="at least one"):
        train_prior([], [], K, PriorConfig(**TINY))
    with pytest.raises(InputError, match="grid"):
        train_prior([np.zeros(10, dtype=np.int64)], [], K, PriorConfig(**TINY))


def test_ngram_overlap_counts():
    train = [np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0])]
    assert ngrams(np.arange(10), 8)[0] == tuple(range(8)) and len(ngrams(np.arange(10), 8)) == 3
    sample = np.array([1, 2, 3, 4, 5, 6, 7, 8, 1, 1])  # 3 grams: the first is in training
    assert ngram_overlap([sample], train) == pytest.approx(1 / 3)
    silence = np.zeros(12, dtype=np.int64)  # 5 grams, all trivial, all in training
    assert ngram_overlap([silence], train) == 1.0
    assert ngram_overlap([silence], train, nontrivial=True) is None
    assert ngram_overlap([np.concatenate([sample, silence])], train, nontrivial=True) == pytest.approx(1 / 10)
    report = overlap_report([sample], train, [silence])
    assert report == {"ngram8_overlap": 0.3333, "ngram8_overlap_nontrivial": 0.3333,
                      "heldout_ngram8_overlap_nontrivial": None}


def test_describe_gives_plain_lines_with_warnings():
    from engine.prior.memorisation import describe
    lines = describe({"val_perplexity": [3.08, 10.3], "train_perplexity": [1.57, 4.35], "ngram8_overlap": 0.75,
                      "ngram8_overlap_nontrivial": 0.28, "heldout_ngram8_overlap_nontrivial": None,
                      "warnings": ["train perplexity 1.20 ..."]})
    assert lines[0] == "prior: validation perplexity 3.1 / 10.3 per level, train 1.6 / 4.3"
    assert "28%" in lines[1] and "n/a" in lines[1] and lines[2].startswith("  warning: train perplexity")


def test_the_budget_counts_cpu_seconds_not_wall_seconds():
    """A busy machine must not cut the prior short: wall time spent waiting (here: sleeping in the
    progress callback, 8 x 0.7 s against a 3 s budget) does not count, CPU time does."""
    import time

    cfg = PriorConfig(**TINY, max_steps=40, eval_every_steps=5, patience_steps=10_000)
    waited = train_prior(markov_files(6, 0), markov_files(2, 1), K, cfg, seed=0, max_seconds=3.0,
                         progress=lambda row: time.sleep(0.7))
    assert waited.stats["steps"] == 40 and waited.stats["stopped_by"] == "max_steps"
    assert waited.stats["train_s"] > 3.0 > waited.stats["cpu_s"]
    spent = train_prior(markov_files(6, 0), markov_files(2, 1), K, cfg, seed=0, max_seconds=0.0)
    assert spent.stats["stopped_by"] == "time" and spent.stats["steps"] < 40


def test_early_hand_over_gives_the_best_weights_so_far_once():
    """`Early` receives, once, the best checkpoint at the first evaluation at or after its step:
    a prior built from those tensors scores what that evaluation reported."""
    from engine.prior.network import sequence_nll
    handed, seen = [], []
    cfg = PriorConfig(**TINY, eval_every_steps=10, max_steps=60, patience_steps=1000)
    val = markov_files(3, 1)
    result = train_prior(markov_files(12, 0), val, K, cfg, seed=0, max_seconds=600, progress=seen.append,
                         early=Early(25, lambda tensors, step: handed.append((tensors, step))))
    assert len(handed) == 1 and handed[0][1] == 30 and result.stats["steps"] == 60
    rows = {row["step"]: row for row in seen if row["step"] <= 30}
    best = rows[rows[30]["best_step"]]
    with torch.inference_mode():
        nll, frames = sequence_nll(val, Prior.from_tensors(handed[0][0]).net.eval())
    np.testing.assert_allclose(np.exp(nll / frames), best["val_perplexity"], rtol=1e-4)


def test_early_hand_over_leaves_training_unchanged():
    cfg = PriorConfig(**TINY, eval_every_steps=10, max_steps=40, patience_steps=1000)
    args = (markov_files(12, 0), markov_files(3, 1), K, cfg)
    plain = train_prior(*args, seed=0, max_seconds=600)
    handed = train_prior(*args, seed=0, max_seconds=600, early=Early(10, lambda tensors, step: None))
    for name, array in plain.tensors.items():
        np.testing.assert_array_equal(array, handed.tensors[name], err_msg=name)
