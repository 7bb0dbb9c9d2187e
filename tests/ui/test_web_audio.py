"""The page's sound controls against `distill serve --device` playing into a real JACK server (dummy
driver, paced in real time): the effect chain editor adds, sets, bypasses and removes a real
pedalboard effect; Play / Stop drive the transport; a Listen click auditions a code."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from ui_peers import ARTIFACTS, OscPeer, make_library, open_page, start_serve, stop_serve


@pytest.fixture(scope="module")
def served_audio(tmp_path_factory):
    if shutil.which("jackd") is None:
        pytest.fail("jackd missing: apt-get install -y --no-install-recommends jackd2")
    from bridge.jack_tools import JackServer
    jack = JackServer.ensure(os.environ.get("DISTILL_JACK_SERVER", "distill-test"), 48000, 256)
    proc, served = start_serve(make_library(tmp_path_factory.mktemp("ui-audio")),
                               "--device", "system", "--sample-rate", "48000", "--block-size", "256")
    try:
        peer = OscPeer(served.osc_port)
        assert peer.status()["audio"] != "none", "the engine opened no audio device on JACK"
        assert peer.answer("/generate", 2.0, 3)[0] == "/done"
        peer.close()
        yield served
    finally:
        stop_serve(proc)  # the engine (and its PortAudio) before the JACK server
        jack.stop()


def wait_until(fn, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not (value := fn()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def fx_chain(peer: OscPeer) -> list[tuple[str, list]]:
    return [m for m in peer.call("/fx/list") if m[0] in ("/fx/slot", "/fx/value")]


def test_effect_chain_editor_and_transport(served_audio, browser):
    peer = OscPeer(served_audio.osc_port)
    page, problems, _ = open_page(browser, served_audio.url)
    try:
        page.click(".tab[data-tab=effects]")
        page.select_option("#fx-kind", "Compressor")
        page.click("#fx-add")
        page.wait_for_selector("#fx-chain li:has-text('Compressor')", timeout=30000)
        slots = [m for m in fx_chain(peer) if m[0] == "/fx/slot"]
        assert len(slots) == 1 and "ompressor" in slots[0][1][1], slots

        # a parameter by name, with its unit in the name: the engine answers /done; a wrong name /fail
        page.fill("#fx-chain .fx-any input[type=text]", "threshold_db")
        page.fill("#fx-chain .fx-any input[type=number]", "-24")
        page.click("#fx-chain .fx-any button")
        page.wait_for_function("document.getElementById('log').textContent.includes('Compressor threshold_db: ')")
        assert "Compressor threshold_db: done" in page.text_content("#log"), page.text_content("#log")
        values = [m[1] for m in fx_chain(peer) if m[0] == "/fx/value" and m[1][1] == "threshold_db"]
        assert all(abs(v[2] + 24) < 1e-3 for v in values), values  # when the engine lists values, it is -24
        page.fill("#fx-chain .fx-any input[type=text]", "no_such_param")  # the chain was redrawn: fill both
        page.fill("#fx-chain .fx-any input[type=number]", "1")
        page.click("#fx-chain .fx-any button")
        page.wait_for_function("document.getElementById('log').textContent.includes('no_such_param')")
        assert "Compressor no_such_param: done" not in page.text_content("#log")

        page.click("#fx-chain button:has-text('Bypass')")
        assert wait_until(lambda: [m[1][2] for m in fx_chain(peer) if m[0] == "/fx/slot"] == [1])
        page.wait_for_selector("#fx-chain li.bypassed")
        page.screenshot(path=str(ARTIFACTS / "effects.png"))
        page.click("#fx-chain button:has-text('Remove')")
        assert wait_until(lambda: not [m for m in fx_chain(peer) if m[0] == "/fx/slot"])

        page.click(".tab[data-tab=edit]")
        page.click("#play")
        assert wait_until(lambda: peer.status()["transport"] == "playing"), "Play did not start the transport"
        page.wait_for_function("document.getElementById('status-line').textContent.includes('playing')")
        page.keyboard.press("Space")  # Space toggles: stop
        assert wait_until(lambda: peer.status()["transport"] == "stopped"), "Space did not stop the transport"

        centre = page.evaluate("Distill.state.view.cellCentre(0, 1)")  # Listen tool: audition that code
        page.mouse.click(centre["x"], centre["y"])
        page.wait_for_timeout(300)
        assert "audition/code failed" not in page.text_content("#log"), page.text_content("#log")
    finally:
        page.close()
        peer.close()
    assert not problems, "\n".join(problems)
