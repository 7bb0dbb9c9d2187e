"""Training: interrupted runs resume exactly; the CLI's exit codes and report keys."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.codec.train import TrainingInterrupted, train_codec
from engine.signal.audio import scan_folder

ROOT = Path(__file__).resolve().parents[2]


def test_interrupted_training_resumes_to_the_same_model(dev_sets, tiny_config, tmp_path):
    used, skipped = scan_folder(dev_sets / "dev-tiny-5", tiny_config.audio.sample_rate)
    straight = train_codec(used, skipped, tiny_config)
    calls = {"n": 0}

    def stop_after_ten_steps():
        calls["n"] += 1
        return calls["n"] > 10  # mid-epoch, after the k-means epoch

    checkpoint = tmp_path / "m.distill.ckpt"
    with pytest.raises(TrainingInterrupted):
        train_codec(used, skipped, tiny_config, checkpoint_path=checkpoint, stop=stop_after_ten_steps)
    assert checkpoint.exists()
    resumed = train_codec(used, skipped, tiny_config, checkpoint_path=checkpoint, resume=True)
    assert not checkpoint.exists()
    for name, array in straight.bundle.tensors["codec"].items():
        assert np.array_equal(array, resumed.bundle.tensors["codec"][name]), name
    assert resumed.report["codec"]["epochs"] == straight.report["codec"]["epochs"]


def _distill(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture()
def tiny_args(tiny_overrides):
    return [a for o in tiny_overrides + ["train.max_epochs=400", "train.patience_epochs=400"] for a in ("--set", o)]


def test_signal_then_resume(dev_sets, tmp_path, tiny_args):
    out = tmp_path / "m.distill"
    proc = _distill("train", dev_sets / "dev-small-30", "--out", out, *tiny_args)
    checkpoint = tmp_path / "m.distill.ckpt"
    deadline = time.monotonic() + 60
    while "codec epoch" not in proc.stderr.readline() and time.monotonic() < deadline:
        pass  # wait until training runs
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert checkpoint.exists() and not out.exists() and "--resume" in err
    done = _distill("train", dev_sets / "dev-small-30", "--out", out, "--resume", "--json",
                    *tiny_args[:-4], "--set", "train.max_epochs=8")
    stdout, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    report = json.loads(stdout)
    assert out.exists() and not checkpoint.exists()
    assert {"files", "config", "codec", "health", "timings"} <= set(report)
    assert {"utilization", "perplexity", "dead_codes"} <= set(report["codec"]["levels"][0])
    assert report["health"]["verdict"] in ("green", "yellow", "red") and report["timings"]["train_s"] > 0


def test_no_usable_audio_is_one_sentence_and_exit_2(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    proc = _distill("train", tmp_path, "--out", tmp_path / "m.distill")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith(f"distill train: error: {tmp_path}: no usable audio")


@pytest.mark.parametrize("bad", ["codec.nope=3", "codec.levels=four", "levels=4"])
def test_bad_overrides_exit_2(dev_sets, tmp_path, bad):
    proc = _distill("train", dev_sets / "dev-tiny-5", "--out", tmp_path / "m.distill", "--set", bad)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and bad.split("=")[0] in err


def test_training_stops_on_a_plateau_and_measures_health_only_where_it_decides(dev_sets, tiny_config, tmp_path):
    """A frozen network (no learning rate, codebooks that do not move) has a flat validation curve:
    the run stops `patience_epochs` after its first selectable epoch, not at `max_epochs`, and rows
    that cannot become the kept checkpoint skip the health pass except every few epochs."""
    from engine.codec.train import HEALTH_EVERY_EPOCHS, WARMUP_EPOCHS
    config = tiny_config.with_overrides(["train.learning_rate=0", "codec.decay=1", "codec.threshold_ema_dead_code=0",
                                         "train.max_epochs=100", "train.patience_epochs=7", "train.augment=false"])
    used, skipped = scan_folder(dev_sets / "dev-tiny-5", config.audio.sample_rate)
    report = train_codec(used, skipped, config).report
    history = report["history"]
    assert report["codec"]["epochs"] == WARMUP_EPOCHS + 7 + 1 < 100
    assert report["codec"]["best_epoch"] == WARMUP_EPOCHS
    assert len({round(row["val_mel_l1"], 9) for row in history[WARMUP_EPOCHS:]}) == 1  # truly flat
    kept_healthy = min(h["utilization"] for h in history[WARMUP_EPOCHS]["levels"]) >= config.train.healthy_utilization
    measured = [row["epoch"] for row in history if "levels" in row]
    assert measured == [e for e in range(WARMUP_EPOCHS, len(history))
                        if not kept_healthy or e == WARMUP_EPOCHS or e % HEALTH_EVERY_EPOCHS == 0]


def test_the_usable_hand_over_leaves_training_unchanged(dev_sets, tiny_config):
    """`usable` gets the best healthy codec so far once, mid-run; the run ends with the same weights."""
    config = tiny_config.with_overrides(["train.early_bundle_codec_s=0", "train.max_epochs=8"])
    used, skipped = scan_folder(dev_sets / "dev-tiny-5", config.audio.sample_rate)
    handed = []
    with_hand_over = train_codec(used, skipped, config, usable=handed.append)
    straight = train_codec(used, skipped, config)
    assert len(handed) == 1 and handed[0].report["codec"]["best_epoch"] < with_hand_over.report["codec"]["epochs"]
    assert handed[0].report["health"]["verdict"] != "red"
    for name, array in straight.bundle.tensors["codec"].items():
        assert np.array_equal(array, with_hand_over.bundle.tensors["codec"][name]), name
