"""`distill serve` with a model loaded never imports torch: the real entry point runs on the main
thread of a child process while a thread of the same process drives it over OSC (load, generate,
regenerate; with a JACK device also layered voices and play) and then reads `sys.modules`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, os, signal, socket, sys, threading, time
sys.path.insert(0, "tests/server")
from osc_client import OscClient
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]; probe.close()
models, device = sys.argv[1], sys.argv[2] == "device"
result = {}
def drive():
    try:
        c = OscClient(port, timeout_s=60)
        for _ in range(300):
            try:
                c.sock.settimeout(0.2); c.answer("/ping"); break
            except OSError:
                pass
        c.sock.settimeout(60)
        result["load"] = c.answer("/model/load", "tiny")[0]
        result["generate"] = c.answer("/generate", 3.0, 1)[0]
        result["regenerate"] = c.answer("/edit/regenerate", 0, 1, 10, 40, 2)[0]
        if device:
            result["voice"] = c.answer("/voice/add", 2.0, 3)[0]
            result["play"] = c.answer("/play")[0]
            time.sleep(0.5)
            pairs = c.answer("/status")[1]
            result["audio"] = dict(zip(pairs[::2], pairs[1::2]))["audio"]
        result["torch"] = "torch" in sys.modules
        c.close()
    except Exception as e:
        result["error"] = repr(e)
    print("RESULT " + json.dumps(result), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=drive, daemon=True).start()
from engine.cli import main
args = ["serve", "--osc-port", str(port), "--web-port", "-1", "--models-dir", models]
sys.exit(main(args + (["--device", "system"] if device else [])))
"""


@pytest.mark.parametrize("device", ["none", "device"])
def test_serve_generates_and_plays_without_importing_torch(tiny_library: Path, device: str, request) -> None:
    if device == "device":
        if not shutil.which("jackd"):
            pytest.skip("needs Debian jackd2 (.ci/run installs it)")
        request.getfixturevalue("shared_jack")
    result, stderr = _probe(tiny_library, device)
    expected = {"load": "/done", "generate": "/done", "regenerate": "/done", "torch": False}
    if device == "device":
        expected.update(voice="/done", play="/done")
        assert result.pop("audio") != "none", "the JACK device did not open"
    assert result == expected, stderr
    assert "torch" not in stderr  # no fallback warning: the tiny model carries the prior graphs


def _probe(tiny_library: Path, device: str) -> tuple[dict, str]:
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()
    run = subprocess.run([sys.executable, "-c", PROBE, str(tiny_library / "models"), device], cwd=ROOT,
                         capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (exit {run.returncode}): {run.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):]), run.stderr[-2000:]
