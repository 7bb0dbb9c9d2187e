"""`distill eval --quality --generation --json` on a tiny trained model: the issue's keys, the
mel ceiling at or above the codec, and the two-sample figures on known cases."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.bundle import load_bundle, save_bundle
from engine.cli import main
from engine.prior.network import Prior, PriorNet, PriorSpec
from engine.workflow.likeness import c2st_accuracy, frechet_distance

QUALITY_KEYS = {"distill", "distill_live", "oracle_mel", "continuous", "opus6", "opus12", "bitrate_kbps"}
GENERATION_KEYS = {"fd_gen_heldout", "fd_train_heldout", "c2st_gen_heldout", "c2st_train_heldout"}


@pytest.fixture(scope="module")
def tiny_with_prior(tiny_model_path, tmp_path_factory):
    """The tests' tiny trained codec plus an untrained prior (generation's plumbing, not its quality)."""
    bundle = load_bundle(tiny_model_path)
    codec = bundle.config.codec
    spec = PriorSpec(levels=codec.levels, codebook_size=codec.codebook_size, dim=16, layers=1, heads=2,
                     context_frames=32)
    return save_bundle(tmp_path_factory.mktemp("q") / "tiny-prior.distill",
                       bundle.with_tensors("prior", Prior(PriorNet(spec)).tensors()))


def test_eval_quality_and_generation_json(tiny_with_prior, dev_sets, capsys):
    assert main(["eval", str(tiny_with_prior), str(dev_sets / "dev-tiny-5"), "--quality", "--generation",
                 "--clips", "1", "--clip-seconds", "2", "--creativity", "0.5", "0.9", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "dataset record" in report["heldout_choice"]
    for split in ("train", "heldout"):
        row = report["quality"][split]
        assert QUALITY_KEYS <= set(row)
        assert all(1.0 <= row[k] <= 5.0 for k in QUALITY_KEYS - {"bitrate_kbps"})
        assert row["oracle_mel"] >= row["distill"]  # the true mel is the ceiling of a 2 x 3-bit codec
        kbps = row["bitrate_kbps"]
        # 2 levels x log2(8) bits x (16000 / 128 / 2) code frames/s
        assert kbps["distill"] == pytest.approx(2 * 3 * 62.5 / 1000) and kbps["opus6"] == 6
    assert set(report["generation"]["creativity"]) == {"0.5", "0.9"}
    for row in report["generation"]["creativity"].values():
        assert GENERATION_KEYS <= set(row)
        assert row["fd_gen_heldout"] >= 0 and 0 <= row["c2st_gen_heldout"] <= 1


def test_two_sample_figures_tell_apart_only_what_differs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(80, 6)), rng.normal(size=(80, 6))
    shifted = b + np.array([5.0, 0, 0, 0, 0, 0])  # Bayes accuracy 0.994
    assert c2st_accuracy(a, b) < 0.65 < 0.95 < c2st_accuracy(a, shifted)
    assert frechet_distance(a, b) < 1.0 < 8.0 < frechet_distance(a, shifted)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


def test_eval_refuses_bad_clip_arguments(tiny_with_prior, dev_sets, capsys):
    assert main(["eval", str(tiny_with_prior), str(dev_sets / "dev-tiny-5"), "--quality", "--clips", "0"]) == 2
    assert "--clips" in capsys.readouterr().err
