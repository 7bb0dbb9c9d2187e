"""MIDI learn from the web page, with a real engine and a real controller message: the page shows
the targets the manifest declares (engine/edit/midi.py), arms learn for one, liblo's `oscsend` sends a
control change to the engine as Max's [ctlin] forwarding does, and the page shows the learned
binding, which the engine's session holds; the page then edits and removes it. A screenshot goes
to artifacts/ui/midi-learn.png."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from engine.edit import midi
from ui_peers import ARTIFACTS, open_page

pytestmark = pytest.mark.skipif(not shutil.which("oscsend"), reason="liblo-tools (oscsend) missing")

CC = 42  # not in the default mapping


def engine_bindings(osc) -> dict[tuple[str, int], tuple[str, list]]:
    """(kind, number) -> (target, params), as the engine's session holds them."""
    return {(a[0], a[1]): (a[2], a[4:]) for address, a in osc.call("/midi/map/list") if address == "/midi/binding"}


def table(page) -> list[list[str]]:
    return page.evaluate("""[...document.querySelectorAll('#midi-table tbody tr')].map((tr) => [
      tr.querySelector('select').value, tr.querySelector('.midi-number').value,
      tr.querySelector('.midi-target-select').value,
      [...tr.querySelectorAll('input[data-param]')].map((i) => i.value).join(' ')])""")


def test_midi_learn_from_the_page(served, browser, osc):
    assert osc.answer("/midi/map/reset")[0] == "/done"
    page, problems, _ = open_page(browser, served.url)
    try:
        page.click(".tab[data-tab=midi]")
        page.wait_for_function(f"document.querySelectorAll('#midi-table tbody tr').length === {len(midi.DEFAULT_MAP.bindings)}")
        shown = {kind: page.eval_on_selector_all(f".midi-target[data-kind={kind}]", "bs => bs.map(b => b.dataset.target)")
                 for kind in ("note", "cc")}
        assert shown == {"note": list(midi.NOTE_ACTIONS), "cc": list(midi.CC_TARGETS)}, shown
        assert (("cc", CC) not in engine_bindings(osc)) and ["cc", "7", "gain", ""] in table(page)

        # arm learn for voice 3's gain: the target takes a voice, so the page asks for it first
        page.click(".midi-target[data-kind=cc][data-target=voice_gain]")
        page.fill("#midi-armed input[data-param=voice]", "3")
        page.click("#midi-listen")
        page.wait_for_selector(".midi-state.listening")
        sent = subprocess.run(["oscsend", "127.0.0.1", str(served.osc_port), "/midi/cc", "ii", str(CC), "100"],
                              capture_output=True, text=True, timeout=10)
        assert sent.returncode == 0, sent.stderr
        page.wait_for_selector(".midi-state.learned")
        assert page.text_content("#midi-state") == f"Learned: CC {CC} \u2192 voice_gain"
        page.wait_for_function(f"[...document.querySelectorAll('#midi-table .midi-number')].some(i => i.value === '{CC}')")
        assert ["cc", str(CC), "voice_gain", "3"] in table(page)
        assert engine_bindings(osc)[("cc", CC)] == ("voice_gain", [3])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "midi-learn.png"), full_page=True)

        # edit the entry in the table: it now drives the move 'darker'
        row = page.locator(f"#midi-table tbody tr[data-kind=cc][data-number='{CC}']")
        row.locator(".midi-target-select").select_option("darker")
        row.locator(".midi-save").click()
        page.wait_for_function(f"[...document.querySelectorAll('#midi-table tbody tr')].some(tr => "
                               f"tr.dataset.number === '{CC}' && tr.querySelector('.midi-target-select').value === 'darker')")
        assert engine_bindings(osc)[("cc", CC)] == ("darker", [])

        # and remove it
        page.locator(f"#midi-table tbody tr[data-kind=cc][data-number='{CC}'] .midi-remove").click()
        page.wait_for_function(f"document.querySelectorAll('#midi-table tbody tr').length === {len(midi.DEFAULT_MAP.bindings)}")
        assert ("cc", CC) not in engine_bindings(osc)
        assert not problems, problems
    finally:
        page.close()
        osc.answer("/midi/learn", "off")
        osc.answer("/midi/map/reset")


def test_midi_learn_mode_on_the_edit_tabs_controls(served, browser, osc):
    """With "MIDI learn" on, clicking the Darker button arms learn instead of moving the grid; a CC
    then binds it, and the button shows its controller."""
    assert osc.answer("/midi/map/reset")[0] == "/done"
    page, problems, _ = open_page(browser, served.url)
    try:
        version = osc.status()["version"]
        page.click("#midi-learn-mode")
        page.wait_for_selector("body.midi-learning")
        page.wait_for_function("document.querySelector('.moves [data-move=brighter]').dataset.midi === 'CC 74'")  # default
        page.click(".moves [data-move=darker]")
        page.wait_for_function("document.getElementById('midi-learn-mode').textContent.includes('darker')")
        sent = subprocess.run(["oscsend", "127.0.0.1", str(served.osc_port), "/midi/cc", "ii", str(CC + 1), "5"],
                              capture_output=True, text=True, timeout=10)
        assert sent.returncode == 0, sent.stderr
        page.wait_for_function("document.querySelector('.moves [data-move=darker]').dataset.midi === 'CC 43'")
        assert page.text_content("#midi-learn-mode") == f"Learned: CC {CC + 1} \u2192 darker"
        assert engine_bindings(osc)[("cc", CC + 1)] == ("darker", [])
        assert osc.status()["version"] == version, "the click on Darker in learn mode moved the grid"
        page.click(".moves [data-move=darker]", position={"x": 5, "y": 5})  # still learning: arms again
        page.click("#midi-learn-mode")  # off: the buttons work again
        page.wait_for_function("!document.body.classList.contains('midi-learning')")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.click("#midi-learn-mode")
        page.wait_for_selector("body.midi-learning")
        page.screenshot(path=str(ARTIFACTS / "midi-learn-edit.png"))
        assert not problems, problems
    finally:
        page.close()
        osc.answer("/midi/learn", "off")
        osc.answer("/midi/map/reset")
