"""`distill train` writes a first playable model while the prior trains on, and the final model
replaces it atomically: the server's own loader reads the early file, decodes its codes live and
finds a prior, and a reader holding the early file open keeps a whole bundle after the swap."""
from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.codes import Codes
from engine.live.decoder import LiveDecoder
from engine.server.handlers.model import load_model_values
from engine.workflow.pipeline import EARLY_LINE, TrainRequest, load_training_data, train_model

EARLY_STEPS = 20


@pytest.fixture(scope="module")
def run(dev_sets, tiny_overrides, tmp_path_factory):
    """Trains a tiny model; at the moment the early bundle is announced (training still going on),
    loads it as the server does and keeps an open handle to it."""
    out = tmp_path_factory.mktemp("early") / "tiny.distill"
    overrides = (*tiny_overrides, "prior.max_steps=80", "prior.eval_every_steps=10", "prior.patience_steps=1000",
                 f"train.early_bundle_prior_steps={EARLY_STEPS}")
    request = TrainRequest(dev_sets / "dev-tiny-5", out, overrides=overrides)
    seen: dict = {}

    def log(text: str) -> None:
        if text.startswith(EARLY_LINE):
            seen["line"] = text
            seen["inode"] = os.stat(out).st_ino
            seen["handle"] = open(out, "rb")  # what a reader mid-load holds when the final save lands
            seen["values"] = load_model_values(out, lambda *a: None)
            seen["bundle"] = load_bundle(out)
    report = train_model(request, load_training_data(request, log=None), log=log)
    yield out, report, seen
    seen["handle"].close()


def test_early_bundle_is_written_during_training_and_loads_like_a_model(run):
    out, report, seen = run
    assert "line" in seen, "no first playable model was announced"
    early = seen["bundle"]
    assert early.meta["report"]["early"]["prior_steps"] >= EARLY_STEPS
    assert report["prior_training"]["steps"] > early.meta["report"]["early"]["prior_steps"]  # training went on
    assert "prior" in early.tensors and seen["values"]["prior"] is not None
    model = seen["values"]["model"]
    cfg = early.config.codec
    codes = Codes(np.random.default_rng(0).integers(0, cfg.codebook_size, (cfg.levels, 40)), cfg.codebook_size,
                  model.code_frame_rate_hz, early.model_id)
    audio = LiveDecoder(early).render(codes)
    assert audio.size > 0 and np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_final_model_replaces_it_atomically(run):
    out, report, seen = run
    final = load_bundle(out)
    assert "early" not in final.meta["report"]
    assert final.model_id == seen["bundle"].model_id  # the same codec: its codes stay valid
    assert "prior" in final.tensors and "prior" in final.meta["report"]
    assert os.stat(out).st_ino != seen["inode"]  # renamed over, not rewritten in place
    with zipfile.ZipFile(seen["handle"]) as old:  # the early file, still whole for whoever had it open
        assert old.testzip() is None and "manifest.json" in old.namelist()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp file left
    timings = report["timings"]
    assert 0 < timings["first_playable_s"] < timings["total_s"]


def test_a_long_codec_run_writes_one_earlier_still(dev_sets, tiny_overrides, tmp_path):
    """Past `train.early_bundle_codec_s` of codec training, the best codec so far and a quick prior
    are written first (and load like a model); the later early bundle and the final model follow."""
    out = tmp_path / "long.distill"
    overrides = (*tiny_overrides, "train.max_epochs=8", "prior.max_steps=40", "prior.eval_every_steps=10",
                 "train.early_bundle_prior_steps=10", "train.early_bundle_codec_s=0")
    request = TrainRequest(dev_sets / "dev-tiny-5", out, overrides=overrides)
    written = []

    def log(text: str) -> None:
        if text.startswith(EARLY_LINE):
            values = load_model_values(out, lambda *a: None)
            written.append((values["model"].bundle.meta["report"]["early"], values["prior"] is not None))
    report = train_model(request, load_training_data(request, log=None), log=log)
    assert [sorted(e) for e, _ in written] == [["codec_epoch", "note", "prior_steps"], ["note", "prior_steps"]]
    assert all(has_prior for _, has_prior in written)
    assert written[0][0]["codec_epoch"] < report["codec"]["epochs"]
    assert report["timings"]["first_playable_s"] < report["timings"]["total_s"]
