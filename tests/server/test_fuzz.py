"""Hostile datagrams: the server answers, never dies, and its state does not change."""
from __future__ import annotations

import pytest

from osc_client import OscClient
from osc_fuzz import changes_state, datagrams, run_fuzz
from serve_process import ServeProcess


def snapshot(client: OscClient) -> tuple:
    status = client.answer("/status")[1]
    s = dict(zip(status[::2], status[1::2]))
    grid = [m for m in client.call("/grid/get", skip=()) if m[0] == "/grid/chunk"]
    return s, grid


def test_fuzz_datagrams_are_hostile_and_reproducible():
    first = list(datagrams(300, seed=1))
    assert first == list(datagrams(300, seed=1))
    assert not any(changes_state(d) for d in first)
    assert len(set(first)) > 250


def test_fuzz_small_in_process(server, loaded):
    loaded.answer("/generate", 2.0, 4)
    before, grid_before = snapshot(loaded)
    result = run_fuzz(server.osc_port, 3000, seed=7)
    assert result["answered"] and result["sent"] == 3000
    after, grid_after = snapshot(loaded)
    assert grid_after == grid_before
    assert after["version"] == before["version"] and after["model"] == "tiny"
    assert after["internal_errors"] == 0


@pytest.mark.slow
def test_fuzz_100k_against_a_real_serve_process(tiny_library):
    with ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tiny_library / "clips"),
                      "--input-dir", str(tiny_library / "inputs"), "--model", "tiny") as proc:
        client = OscClient(proc.osc_port, timeout_s=60)
        import time
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and client.answer("/status")[1][1] != "tiny":
            time.sleep(0.2)
        before, grid_before = snapshot(client)
        result = run_fuzz(proc.osc_port, 100_000, seed=11)
        assert result["answered"] and result["sent"] == 100_000
        after, grid_after = snapshot(client)
        assert proc.alive()
        assert grid_after == grid_before and after["version"] == before["version"]
        assert after["internal_errors"] == 0
        client.close()
