"""Headless Pure Data (Debian puredata-core) opens the shipped patch plugin_ui/pd/distill.pd and
completes a ping and a generate round trip with a real `distill serve`; the generated grid is then
visible to another OSC client, so the patch really drove the engine."""
from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time

import pytest

from ui_peers import ROOT, free_udp_port

PATCH = ROOT / "plugin_ui" / "pd" / "distill.pd"


def run_pd(sends: list[str]) -> tuple[subprocess.Popen, queue.Queue]:
    """Pd with the patch open; what it prints (its window, on stderr when headless) goes to a queue."""
    cmd = ["pd", "-nogui", "-nosound", "-noprefs", "-nrt", "-open", str(PATCH)]
    for message in sends:
        cmd += ["-send", message]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in proc.stderr], daemon=True).start()
    return proc, lines


def wait_line(lines: queue.Queue, prefix: str, seen: list[str], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"Pd never printed {prefix!r}; it printed:\n" + "\n".join(seen))


def test_pd_patch_pings_and_generates(served, osc):
    if not shutil.which("pd"):
        pytest.fail("pd missing: apt-get install -y --no-install-recommends puredata-core")
    before = osc.status()["version"]
    listen = free_udp_port()
    proc, lines = run_pd([f"distill-connect {served.osc_port} {listen}", "distill-ping hello",
                          "distill-generate 1 7"])
    seen: list[str] = []
    try:
        assert wait_line(lines, "distill: pong", seen, 20) == "distill: pong hello"
        done = wait_line(lines, "distill: done /generate", seen, 120)
        frames = int(float(done.split()[3]))
        assert frames > 0, done
        errors = [line for line in seen if line.startswith("error")]
        assert not errors, "\n".join(errors)
    finally:
        proc.terminate()
        proc.wait(10)
    status = osc.status()
    assert status["version"] > before, "the engine's grid did not change after the Pd generate"
    assert status["frames"] == frames


def load_problems(patch) -> list[str]:
    """What Pd complains about when it opens `patch` and quits (objects it cannot create, errors)."""
    out = subprocess.run(["pd", "-nogui", "-nosound", "-noprefs", "-nrt", "-open", str(patch), "-send", "pd quit"],
                         capture_output=True, text=True, timeout=30).stderr
    return [line for line in out.splitlines() if "couldn't create" in line or line.startswith("error")]


def test_pd_patch_loads_without_errors(tmp_path):
    """The patch opens cleanly: every object exists in vanilla Pd (and a planted bad one is caught)."""
    if not shutil.which("pd"):
        pytest.fail("pd missing: apt-get install -y --no-install-recommends puredata-core")
    assert load_problems(PATCH) == []
    bad = tmp_path / "bad.pd"
    bad.write_text(PATCH.read_text().replace("oscformat play", "oscformatx play"))
    assert load_problems(bad), "a patch with an object Pd does not have went unnoticed"
