"""`distill --version`, and the progress bar every long command shows on stderr (quiet with --json)."""
from __future__ import annotations

import io
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from engine.cli import main
from engine.cli.common import PROGRESS_DELAY_ENV, Progress

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_version_is_the_one_in_pyproject():
    want = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--version"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == f"distill {want}", out
    assert "torch" not in out.stderr


def test_progress_bar_lines_and_quiet(monkeypatch):
    monkeypatch.setenv(PROGRESS_DELAY_ENV, "0")
    log = io.StringIO()
    bar = Progress("distill x", total=4, stream=log)
    for i in range(4):
        bar.advance(1, f"step {i}")
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("distill x [") and "25%" in lines[0] and "1/4 step 0" in lines[0], lines
    assert "100%" in lines[-1] and "eta" not in lines[-1], lines
    quiet = io.StringIO()
    with Progress("distill x", total=2, quiet=True, stream=quiet) as q:
        q.advance(2)
    assert quiet.getvalue() == ""
    monkeypatch.setenv(PROGRESS_DELAY_ENV, "60")  # a quick command shows nothing
    quick = io.StringIO()
    with Progress("distill x", total=2, stream=quick) as b:
        b.advance(2)
    assert quick.getvalue() == ""


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """The server tests' tiny model (codec + prior + labels) and a folder with two tones."""
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from tiny_model import make_tiny_model

    from engine.signal.audio import save_audio
    root = tmp_path_factory.mktemp("progress")
    model = make_tiny_model(root / "tiny.distill")
    from engine.bundle import load_bundle, save_bundle
    bundle = load_bundle(model)  # trained for 2 epochs, says its report: the baseline trains as long
    save_bundle(model, bundle.with_meta(report={**bundle.meta["report"], "codec": {"epochs": 2}}))
    (root / "data").mkdir()
    t = np.arange(16000, dtype=np.float32) / 16000
    for hz in (220, 330):
        save_audio(root / "data" / f"tone{hz}.wav", (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000)
    return root, model


@pytest.mark.parametrize("command", ["eval", "generate",
                                     pytest.param("eval --baseline", marks=pytest.mark.slow),  # trains (~20 s)
                                     pytest.param("export", marks=pytest.mark.slow)])  # ONNX parity (~10 s)
def test_long_commands_show_progress_quiet_with_json(command, tiny_files, tmp_path, monkeypatch, capsys):
    root, model = tiny_files
    monkeypatch.setenv(PROGRESS_DELAY_ENV, "0")  # these tiny runs are quicker than the one-second delay
    copy = tmp_path / "m.distill"
    copy.write_bytes(model.read_bytes())
    argv = {"eval": ["eval", str(copy), str(root / "data")],
            "eval --baseline": ["eval", str(copy), str(root / "data"), "--baseline"],
            "export": ["export", str(copy)],
            "generate": ["generate", str(copy), "--seconds", "2", "--out", str(tmp_path / "g.wav")]}[command]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"distill {command.split()[0]} [" in err and "100%" in err, err
    if command == "eval --baseline":
        assert "baseline epoch 1/" in err, err
    if command == "eval":  # generate has no --json; the slow ones are the same code path
        assert main(argv + ["--json"]) == 0
        captured = capsys.readouterr()
        assert "[" not in captured.err and "%" not in captured.err, captured.err


def test_demo_shows_progress(tiny_files, tmp_path, monkeypatch, capsys):
    _, model = tiny_files
    monkeypatch.setenv(PROGRESS_DELAY_ENV, "0")
    assert main(["demo", "--model", str(model), "--out", str(tmp_path / "demo"), "--count-per-kind", "1"]) == 0
    out = capsys.readouterr()
    assert "distill demo [" in out.err and "4/4" in out.err, out.err
    assert len(list((tmp_path / "demo").glob("*-distilled.wav"))) == 4 and "[" not in out.out
