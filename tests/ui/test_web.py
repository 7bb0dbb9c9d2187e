"""The web code-grid editor in Debian's Chromium (driven by playwright, never `playwright install`)
against a real `distill serve`: the page loads without console errors, a click on a cell changes the
engine's grid (read back over OSC by another client), undo and redo restore it, and a screenshot is
kept under artifacts/ui/. Timings are printed (and written to artifacts/ui/timings.json), not asserted."""
from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from ui_peers import ARTIFACTS, drag_select, open_page

def wait_engine(osc, predicate, timeout_s: float = 5.0) -> np.ndarray:
    deadline = time.monotonic() + timeout_s
    while True:
        grid = osc.grid()
        if predicate(grid) or time.monotonic() > deadline:
            return grid
        time.sleep(0.02)


def test_click_edits_the_engine_grid_and_undo_restores_it(served, osc, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, problems, ready_s = open_page(browser, served.url)
    before = osc.grid()
    levels, frames = before.shape
    assert page.evaluate("[Distill.state.model.levels, Distill.state.model.frames]") == [levels, frames]
    assert page.evaluate("Array.from(Distill.state.model.indices)") == before.reshape(-1).tolist(), \
        "the page shows a different grid from the engine's"

    level, frame = levels - 1, min(5, frames - 1)
    old = int(before[level, frame])
    new = (old + 3) % int(osc.status()["codebook_size"])
    page.click(".tool[data-tool=draw]")
    page.fill("#brush-code", str(new))
    page.dispatch_event("#brush-code", "input")
    centre = page.evaluate(f"Distill.state.view.cellCentre({level}, {frame})")
    clicked = time.perf_counter()
    page.mouse.click(centre["x"], centre["y"])
    after = wait_engine(osc, lambda g: g[level, frame] == new)
    engine_s = time.perf_counter() - clicked
    assert after[level, frame] == new, f"the click did not reach the engine: cell is {after[level, frame]}, wanted {new}"
    changed = np.argwhere(after != before).tolist()
    assert changed == [[level, frame]], f"one click changed more than one cell: {changed}"
    page.wait_for_function("Distill.state.editRoundTripMs !== null")
    round_trip_ms = page.evaluate("Distill.state.editRoundTripMs")
    page.screenshot(path=str(ARTIFACTS / "editor-after-click.png"))

    page.keyboard.press("Control+z")
    undone = wait_engine(osc, lambda g: g[level, frame] == old)
    assert np.array_equal(undone, before), "Ctrl-Z did not restore the engine's grid"
    page.keyboard.press("Control+Shift+z")
    redone = wait_engine(osc, lambda g: g[level, frame] == new)
    assert np.array_equal(redone, after), "Shift-Ctrl-Z did not redo the edit"
    page.wait_for_function("!document.getElementById('undo').disabled")
    page.click("#undo")
    undone = wait_engine(osc, lambda g: g[level, frame] == old)
    assert np.array_equal(undone, before), "the Undo button did not restore the engine's grid"
    page.wait_for_function(f"Distill.state.model.get({level}, {frame}) === {old}")  # the page follows the engine

    page.mouse.move(centre["x"], centre["y"])
    page.wait_for_selector("#tooltip:not([hidden])")
    page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)
    timings = {"page_ready_s": round(ready_s, 3), "edit_click_to_engine_read_back_ms": round(engine_s * 1000, 1),
               "edit_click_to_page_notified_ms": round(round_trip_ms, 1)}
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))
    print(f"\nUI timings: {timings}")
    page.close()
    assert not problems, "\n".join(problems)


def test_every_tab_renders_without_errors(served, browser):
    page, problems, _ = open_page(browser, served.url)
    for tab in ("library", "train", "effects", "edit"):
        page.click(f".tab[data-tab={tab}]")
        page.wait_for_selector(f"#tab-{tab}.active")
    page.click(".tab[data-tab=library]")
    page.wait_for_selector("#lib-table tbody td:has-text('tiny')")  # /model/list reached the page
    page.screenshot(path=str(ARTIFACTS / "library.png"))
    page.close()
    assert not problems, "\n".join(problems)


def test_page_uses_only_the_manifest(served, browser):
    """Only addresses in the manifest are sent; a control whose route the engine does not offer is
    disabled and says so (the page adapts to the manifest it is served)."""
    page, problems, _ = open_page(browser, served.url)
    assert page.evaluate("Distill.state.conn.send('/not/an/address', [])") is False
    assert not page.is_disabled("#op-reverse")
    page.close()

    page = browser.new_page(viewport={"width": 1400, "height": 900})

    def without_reverse(route):
        manifest = route.fetch().json()
        manifest["routes"] = [r for r in manifest["routes"] if r["address"] != "/edit/reverse"]
        route.fulfill(json=manifest)
    page.route("**/protocol.json", without_reverse)
    page.goto(served.url)
    page.wait_for_function("document.getElementById('conn').textContent === 'connected'")
    assert page.is_disabled("#op-reverse")
    assert "not offered by this engine" in page.get_attribute("#op-reverse", "title")
    assert not page.is_disabled("#op-duplicate")
    page.close()
    assert not problems, "\n".join(problems)


def test_region_select_reverse_render_and_sampling(served, osc, browser):
    """Drag-select a region and reverse it; render and show the path; a slider reaches the engine."""
    page, problems, _ = open_page(browser, served.url)
    before = osc.grid()
    levels, frames = before.shape
    f0, f1 = 2, min(9, frames - 1)
    drag_select(page, levels, f0, f1)
    assert page.evaluate("Distill.state.selection") == {"level0": 0, "level1": levels - 1, "frame0": f0, "frame1": f1}
    page.click("#op-reverse")
    want = before.copy()
    want[:, f0:f1 + 1] = before[:, f0:f1 + 1][:, ::-1]
    after = wait_engine(osc, lambda g: np.array_equal(g, want))
    assert np.array_equal(after, want), "Reverse on the selected region did not reverse it in the engine"
    page.screenshot(path=str(ARTIFACTS / "editor-region.png"))

    version = osc.status()["version"]
    page.click("[data-move=brighter]")  # a perceptual move on the selection: the engine answers /done
    page.wait_for_function("document.getElementById('log').textContent.includes('Brighter: ')", timeout=30000)
    assert "Brighter: done" in page.text_content("#log"), page.text_content("#log")
    assert osc.status()["version"] == version + 1, "the move was not committed by the engine"
    moved = osc.grid()
    outside = np.ones(frames, bool)
    outside[f0:f1 + 1] = False
    assert np.array_equal(moved[:, outside], after[:, outside]), "the move touched frames outside the selection"

    page.fill("#render-name", "ui-test-clip")
    page.click("#render")
    page.wait_for_function("document.getElementById('render-path').textContent.includes('ui-test-clip')", timeout=60000)
    path = page.text_content("#render-path")
    assert path.startswith(str(served.root / "clips")) and (served.root / "clips").joinpath(path.split("/")[-1]).exists()

    page.evaluate("""(() => { const el = document.getElementById('creativity'); el.value = '1.5';
                   el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); })()""")
    deadline = time.monotonic() + 5
    while abs(osc.answer("/sampling")[1][0] - 1.5) > 1e-6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert abs(osc.answer("/sampling")[1][0] - 1.5) < 1e-6, "the Creativity slider did not reach the engine"
    page.close()
    assert not problems, "\n".join(problems)


def test_fill_button_fills_the_selection_with_the_brush_as_one_undo_step(served, osc, browser):
    """Select a region, pick a brush code, press Fill: the engine's region holds that code and
    nothing else changed; one Undo restores the grid exactly."""
    page, problems, _ = open_page(browser, served.url)
    assert not page.is_disabled("#op-fill")  # the engine's manifest offers /edit/fill
    before = osc.grid()
    levels, frames = before.shape
    f0, f1 = 10, min(15, frames - 1)  # inclusive in the page, as the selection shows
    code = (int(before[0, f0]) + 1) % int(osc.status()["codebook_size"])
    drag_select(page, levels, f0, f1)
    page.fill("#brush-code", str(code))
    page.dispatch_event("#brush-code", "input")
    page.click("#op-fill")
    want = before.copy()
    want[:, f0:f1 + 1] = code
    after = wait_engine(osc, lambda g: np.array_equal(g, want))
    assert np.array_equal(after, want), "Fill did not set the selected region to the brush code in the engine"
    page.wait_for_function("document.getElementById('log').textContent.includes('fill: done')")
    page.wait_for_function("!document.getElementById('undo').disabled")
    page.click("#undo")
    undone = wait_engine(osc, lambda g: np.array_equal(g, before))
    assert np.array_equal(undone, before), "one Undo did not restore the grid from before the fill"
    page.close()
    assert not problems, "\n".join(problems)



@pytest.mark.slow
def test_training_view_follows_a_real_training_run(served, browser, dev_sets):
    """Start training on dev-tiny-5 from the Train tab: loss and codebook health arrive per epoch,
    the verdict shows, and the new model lands in the library."""
    shutil.copytree(dev_sets / "dev-tiny-5", served.root / "inputs" / "tiny5", dirs_exist_ok=True)
    page, problems, _ = open_page(browser, served.url)
    page.click(".tab[data-tab=train]")
    page.fill("#train-data", "tiny5")
    page.fill("#train-name", "ui-trained")
    page.fill("#train-minutes", "1")
    page.click("#train-start")
    page.wait_for_function("document.getElementById('train-state').textContent.startsWith('Trained')", timeout=600000)
    epochs = page.evaluate("Distill.state.epochs")
    assert epochs and all(isinstance(e["loss"], float) for e in epochs), epochs
    levels = [e["levels"] for e in epochs if e["levels"]]  # health is measured on some epochs only
    assert levels and all(0 <= u <= 1 for lv in levels for u in lv), epochs
    assert page.get_attribute("#verdict", "class").split()[-1] in ("green", "yellow", "red")
    page.screenshot(path=str(ARTIFACTS / "training.png"))
    assert (served.root / "models" / "ui-trained.distill").exists()
    page.close()
    assert not problems, "\n".join(problems)
