"""Killed at the worst moment, nothing lost: kill -9 during a bundle save, during training and during
a session save leaves the previous file intact and loadable; `--resume` finishes the training.

Each kill is made deterministic by waiting for the moment itself: the save's temp file growing
(bundle), the periodic checkpoint appearing (training), or a save held between write and rename
with DISTILL_TEST_HOLD_SAVE_S (session)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from engine.bundle import load_bundle
from engine.server.library import list_models

ROOT = Path(__file__).resolve().parent.parent.parent


def python(script: str, *args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_temp(folder: Path, target: Path, proc: subprocess.Popen, min_bytes: int = 1, timeout_s: float = 60) -> Path:
    """The atomic save's temp file for `target` (".STEM.xxxx.tmp.SUFFIX") once it holds `min_bytes`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in folder.glob(f".{target.stem}.*.tmp{target.suffix}"):
            try:
                if p.stat().st_size >= min_bytes:
                    return p
            except FileNotFoundError:
                continue
        assert proc.poll() is None, f"the save ended before it could be killed: {proc.communicate()}"
        time.sleep(0.002)
    raise AssertionError("no temp file appeared")


def kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_kill_during_a_bundle_save_keeps_the_previous_model(tiny_model_path, tmp_path):
    target = tmp_path / "m.distill"
    shutil.copy(tiny_model_path, target)
    good = target.read_bytes()
    # 48 MB of noise deflates slowly: the kill lands while the temp file is being written.
    script = ("import sys, numpy as np\n"
              "from engine.bundle import load_bundle, save_bundle\n"
              "bundle = load_bundle(sys.argv[1])\n"
              "noise = np.random.default_rng(0).standard_normal(12_000_000).astype(np.float32)\n"
              "save_bundle(sys.argv[1], bundle.with_tensors('extra', {'noise': noise}))\n")
    proc = python(script, target)
    temp = wait_for_temp(tmp_path, target, proc)
    kill9(proc)
    assert temp.exists() and target.read_bytes() == good
    assert load_bundle(target).model_id == load_bundle(tiny_model_path).model_id
    from engine.codec.model import Model
    Model.load(target)
    assert [e.name for e in list_models(tmp_path)] == ["m"]  # the dead save's temp file is not a model


def test_kill_during_training_then_resume_finishes(dev_sets, tmp_path, tiny_overrides):
    out = tmp_path / "m.distill"
    checkpoint = tmp_path / "m.distill.ckpt"
    overrides = tiny_overrides + ["train.max_epochs=16", "train.patience_epochs=400", "train.checkpoint_every_s=0"]
    argv = [sys.executable, "-m", "engine.cli", "train", str(dev_sets / "dev-tiny-5"), "--out", str(out),
            "--no-prior", "--no-export", *[a for o in overrides for a in ("--set", o)]]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not checkpoint.exists():  # saved at an epoch end, by rename: it exists only when complete
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)
    kill9(proc)
    assert not out.exists()
    epoch = load_bundle(checkpoint).meta["checkpoint"]["epoch"]  # intact and readable
    assert 1 <= epoch < 16
    done = subprocess.run(argv + ["--resume", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {checkpoint}" in done.stderr
    report = json.loads(done.stdout)
    assert report["codec"]["epochs"] == 16 and len(report["history"]) == 16
    assert out.exists() and not checkpoint.exists()
    from engine.codec.model import Model
    assert Model.load(out).config.codec.levels == 2


def test_kill_during_a_session_save_keeps_the_previous_session(tmp_path):
    from engine.codes import Codes
    from engine.edit.session import Session, load_session, save_session
    path = tmp_path / "m.session.json"
    codes = Codes(np.arange(2 * 40).reshape(2, 40) % 8, 8, 31.25, "abc")
    save_session(path, Session.new(codes))
    good = path.read_bytes()
    script = ("import sys, numpy as np\n"
              "from engine.codes import Codes\n"
              "from engine.edit.session import load_session, save_session\n"
              "session = load_session(sys.argv[1], 'abc')\n"
              "new = session.codes.with_indices(np.zeros((2, 40), np.int64))\n"
              "save_session(sys.argv[1], session.push(session.present.__class__(new)))\n")
    proc = python(script, path, env={**os.environ, "DISTILL_TEST_HOLD_SAVE_S": "60"})
    temp = wait_for_temp(tmp_path, path, proc)
    assert json.loads(temp.read_text())["format"]  # the new session is written in full, not yet renamed
    kill9(proc)
    assert path.read_bytes() == good
    restored = load_session(path, "abc")
    assert np.array_equal(restored.codes.indices, codes.indices) and restored.n_past == 0


def test_a_checkpoint_of_another_shape_is_one_sentence(dev_sets, tiny_config, tiny_model_path, tmp_path):
    import pytest

    from engine.codec.train import train_codec
    from engine.errors import InputError
    from engine.signal.audio import scan_folder
    checkpoint = tmp_path / "m.distill.ckpt"
    shutil.copy(tiny_model_path, checkpoint)  # a model, not a checkpoint: no training state in it
    used, skipped = scan_folder(dev_sets / "dev-tiny-5", tiny_config.audio.sample_rate)
    with pytest.raises(InputError) as e:
        train_codec(used, skipped, tiny_config, checkpoint_path=checkpoint, resume=True)
    assert str(e.value) == (f"{checkpoint}: checkpoint does not fit this run (KeyError: 'checkpoint'); "
                            "delete it to train from the beginning")
