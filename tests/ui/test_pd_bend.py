"""Headless Pd forwards pitch bend: the shipped patch's [r distill-bend] (what its [bendin] feeds)
goes to the engine as /midi/bend, and the default mapping's bend target (Creativity) follows."""
from __future__ import annotations

import shutil
import time

import pytest

from engine.facts import KNOBS
from test_pd import run_pd
from ui_peers import free_udp_port


def test_pd_forwards_pitch_bend(served, osc):
    if not shutil.which("pd"):
        pytest.fail("pd missing: apt-get install -y --no-install-recommends puredata-core")
    knob = next(k for k in KNOBS.values() if k.word == "creativity")
    assert osc.answer("/midi/map/reset")[0] == "/done"
    before = osc.answer("/sampling")[1]
    proc, _ = run_pd([f"distill-connect {served.osc_port} {free_udp_port()}", "distill-bend 16383 1"])
    try:
        deadline = time.monotonic() + 20
        while osc.answer("/sampling")[1][0] != pytest.approx(knob.maximum, abs=1e-3):
            assert time.monotonic() < deadline, f"Creativity never followed Pd's bend: {osc.answer('/sampling')}"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
        osc.answer("/sampling/creativity", before[0])
