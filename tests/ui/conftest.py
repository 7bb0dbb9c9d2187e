"""UI test fixtures: a real `distill serve` process on free ports with a tiny real model, and a
small OSC peer that reads the engine's grid independently of the page under test."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ui_peers, for the test modules too

from ui_peers import CHROMIUM, CHROMIUM_ARGS, OscPeer, make_library, start_serve, stop_serve  # noqa: E402


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A served tiny model with a generated grid (a real prior run) to click on."""
    proc, served = start_serve(make_library(tmp_path_factory.mktemp("ui-library")))
    peer = OscPeer(served.osc_port)
    try:
        reply = peer.answer("/generate", 2.0, 1)
        assert reply[0] == "/done", reply
    finally:
        peer.close()
    yield served
    stop_serve(proc)


@pytest.fixture
def osc(served):
    peer = OscPeer(served.osc_port)
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through playwright (its own browser download cannot work here)."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
