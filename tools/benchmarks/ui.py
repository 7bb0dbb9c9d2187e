"""UI figures, measured in Debian's Chromium (playwright, never `playwright install`) against an
in-process server with a tiny real model on loopback:

- `web_page_ready_ms`: navigation start until the grid is on screen (the page's first /grid/get
  answered), median of 5 loads. Target: 1000 ms.
- `web_edit_to_engine_ms`: a Draw click on a cell until the engine's /grid/chunk for that edit is back
  in the page (the engine applied it and said so; an upper bound on "reflected in the engine"), both
  ends timed inside the page, median of 20 clicks (p90 alongside). Target: 50 ms.
- `web_edit_to_sound_ms`: on the demo model (4 s grid) playing in the page with no audio device, a
  Draw click until the re-decoded segments are fetched and playing (Web Audio source restarted),
  timed inside the page, median of 20 clicks; `web_edit_sound_segments`: segments fetched per edit
  (median, of how many). Target: 150 ms.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _figures() -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from playwright.sync_api import sync_playwright
    from tiny_model import make_tiny_model  # the server tests' tiny real model

    from engine.server.app import Server, ServeOptions
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tiny_model(root / "models" / "tiny.distill")
        (root / "clips").mkdir()
        options = ServeOptions(osc_port=0, web_port=0, model="tiny", models_dir=root / "models",
                               clips_dir=root / "clips", input_dir=root)
        server = Server(options, log=lambda text: None).start_in_thread()
        try:
            return _measure(sync_playwright, f"http://127.0.0.1:{server.web_port}/")
        finally:
            server.join()


def _measure(sync_playwright, url: str) -> dict:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_function("Distill.state.conn && Distill.state.conn.open")
        page.fill("#gen-seconds", "2")
        page.click("#generate")
        page.wait_for_function("Distill.state.model.frames > 0", timeout=60000)
        ready = []
        for _ in range(5):
            page.goto(url)
            page.wait_for_function("Distill.state.readyMs !== null", timeout=15000)
            ready.append(page.evaluate("Distill.state.readyMs"))
        page.wait_for_function("Distill.state.model.frames > 0")
        page.click(".tool[data-tool=draw]")
        frames, k = page.evaluate("[Distill.state.model.frames, Distill.state.model.codebookSize]")
        edits = []
        for i in range(20):
            frame = i % frames
            code = (page.evaluate(f"Distill.state.model.get(0, {frame})") + 1) % k
            page.fill("#brush-code", str(code))
            page.dispatch_event("#brush-code", "input")
            centre = page.evaluate(f"Distill.state.view.cellCentre(0, {frame})")
            page.evaluate("Distill.state.editRoundTripMs = null")
            page.mouse.click(centre["x"], centre["y"])
            page.wait_for_function("Distill.state.editRoundTripMs !== null")
            edits.append(page.evaluate("Distill.state.editRoundTripMs"))
        browser.close()
    edits.sort()
    return {"figures": {
        "web_page_ready_ms": {"value": round(statistics.median(ready), 1), "unit": "ms", "target": 1000,
                              "samples": [round(x, 1) for x in ready]},
        "web_edit_to_engine_ms": {"value": round(statistics.median(edits), 2), "unit": "ms", "target": 50,
                                  "p90": round(edits[int(0.9 * (len(edits) - 1))], 2),
                                  "max": round(edits[-1], 2)},
    }}


def _sound_figures() -> dict:
    import shutil

    from playwright.sync_api import sync_playwright

    from engine.server.app import Server, ServeOptions
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "models").mkdir()
        (root / "clips").mkdir()
        shutil.copy(ROOT / "models" / "demo.distill", root / "models" / "demo.distill")
        options = ServeOptions(osc_port=0, web_port=0, model="demo", models_dir=root / "models",
                               clips_dir=root / "clips", input_dir=root)
        server = Server(options, log=lambda text: None).start_in_thread()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    return _measure_sound(browser.new_page(viewport={"width": 1400, "height": 900}),
                                          f"http://127.0.0.1:{server.web_port}/")
                finally:
                    browser.close()
        finally:
            server.join()


def _measure_sound(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_function("Distill.state.conn && Distill.state.conn.open && Distill.state.modelName === 'demo'",
                           timeout=60000)
    page.fill("#gen-seconds", "4")
    page.fill("#gen-seed", "3")
    page.click("#generate")
    page.wait_for_function("Distill.state.sound.frames > 150 && Distill.state.sound.samples.length > 0", timeout=120000)
    page.click("#play")
    page.wait_for_function("Distill.state.sound.playing")
    page.click(".tool[data-tool=draw]")
    frames, k = page.evaluate("[Distill.state.model.frames, Distill.state.model.codebookSize]")
    delays, fetched = [], []
    for i in range(20):
        frame = 10 + (i * 17) % (frames - 20)
        code = (page.evaluate(f"Distill.state.model.get(1, {frame})") + 1) % k
        page.fill("#brush-code", str(code))
        page.dispatch_event("#brush-code", "input")
        centre = page.evaluate(f"Distill.state.view.cellCentre(1, {frame})")
        page.mouse.click(centre["x"], centre["y"])
        page.wait_for_function("Distill.state.sound.stats.appliedAt > Distill.state.lastEditAt", timeout=30000)
        delays.append(page.evaluate("Distill.state.sound.stats.appliedAt - Distill.state.lastEditAt"))
        fetched.append(len(page.evaluate("Distill.state.sound.stats.lastFetched")))
    segments = page.evaluate("Distill.state.sound.etags.length")
    delays.sort()
    return {"figures": {
        "web_edit_to_sound_ms": {"value": round(statistics.median(delays), 1), "unit": "ms", "target": 150,
                                 "p90": round(delays[int(0.9 * (len(delays) - 1))], 1), "max": round(delays[-1], 1)},
        "web_edit_sound_segments": {"value": statistics.median(fetched), "unit": "segments", "of": segments,
                                    "max": max(fetched)},
    }}


FIGURES = {"web_ui": _figures, "web_sound": _sound_figures}
