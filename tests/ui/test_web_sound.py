"""Sound and pictures in the page, with no audio device anywhere: `distill serve` on the demo model
without `--device` (what `./run demo` runs) serves the grid's decoded sound over HTTP; Debian's
Chromium plays it with Web Audio, draws its waveform and spectrogram under the grid, and after an
edit re-fetches only the segments that changed. Screenshots go to artifacts/ui/ (sound-*.png)."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys

import numpy as np
import pytest

from ui_peers import ARTIFACTS, ROOT, OscPeer, drag_select, open_page, start_serve, stop_serve

DEMO = ROOT / "models" / "demo.distill"
sys.path.insert(0, str(ROOT / "tests" / "server"))
from http_client import get  # noqa: E402


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-sound")
    for name in ("models", "clips", "inputs"):
        (root / name).mkdir()
    shutil.copy(DEMO, root / "models" / "demo.distill")
    proc, served = start_serve(root, "--model", "demo")  # the last --model wins: the demo, no device
    peer = OscPeer(served.osc_port)
    try:
        assert peer.status()["audio"] == "none"
        assert peer.answer("/generate", 3.0, 5)[0] == "/done"
    finally:
        peer.close()
    yield served
    stop_serve(proc)


def sound_paths() -> dict:
    return json.loads((ROOT / "plugin_ui" / "protocol.json").read_text())["conventions"]["sound"]


def fetch_sound(port: int) -> tuple[dict, np.ndarray]:
    paths = sound_paths()
    status, body, _ = get(port, paths["index"])
    assert status == 200, body
    index = json.loads(body)
    parts = []
    for i, etag in enumerate(index["etags"]):
        status, body, headers = get(port, paths["segment"].format(i=i))
        assert status == 200, body
        assert hashlib.blake2b(body, digest_size=8).hexdigest() == headers["ETag"].strip('"')
        parts.append(np.frombuffer(body, "<f4"))
    return index, np.concatenate(parts)


def test_the_engine_serves_the_grids_decoded_sound(served_demo):
    """The served samples are the live decoder's render of the engine's grid; an edit changes the
    etags of the segments around it only; the origin policy covers these paths too."""
    from engine.codes import Codes
    from engine.live.decoder import LiveDecoder
    peer = OscPeer(served_demo.osc_port)
    try:
        index, samples = fetch_sound(served_demo.web_port)
        grid = peer.grid()
        decoder = LiveDecoder(served_demo.root / "models" / "demo.distill")
        want = decoder.render(Codes(grid, decoder.spec.codebook_size, decoder.spec.code_frame_rate_hz, decoder.spec.model_id))
        assert index["sample_rate"] == 48000 and index["frames"] == grid.shape[1] and len(samples) == index["samples"]
        assert index["samples_per_frame"] * index["segment_frames"] == index["segment_samples"]
        assert len(samples) == len(want) and np.max(np.abs(samples - want)) < 1e-3, "served sound is not the grid's"  # float32 phase sums
        assert np.sqrt(np.mean(samples ** 2)) > 1e-3, "the demo's sound is silent"

        frame = grid.shape[1] // 2
        new = (int(grid[0, frame]) + 7) % int(peer.status()["codebook_size"])
        assert peer.answer("/edit/set", 0, frame, new)[0] == "/done"
        after, _ = fetch_sound(served_demo.web_port)
        changed = [i for i, (a, b) in enumerate(zip(index["etags"], after["etags"])) if a != b]
        segment = frame // index["segment_frames"]
        assert segment in changed and len(changed) <= 3 < len(index["etags"]), (changed, len(index["etags"]))
        assert after["version"] > index["version"]

        paths = sound_paths()
        status, _, headers = get(served_demo.web_port, paths["segment"].format(i=0))
        assert get(served_demo.web_port, paths["segment"].format(i=0), {"If-None-Match": headers["ETag"]})[0] == 304
        assert get(served_demo.web_port, paths["segment"].format(i=len(after["etags"])))[0] == 404
        assert get(served_demo.web_port, paths["index"], {"Origin": "http://evil.example"})[0] == 403
        assert get(served_demo.web_port, "/sound/segment/-1")[0] == 404 and get(served_demo.web_port, "/sound/x")[0] == 404
        assert peer.answer("/undo")[0] == "/done"
    finally:
        peer.close()


def spectrogram_columns(page, f0: int, f1: int) -> np.ndarray:
    """Mean RGB of the sound canvas's spectrogram rows over each grid column f0..f1-1. # [f1 - f0, 3]"""
    data = page.evaluate(f"""(() => {{
      const v = Distill.state.view, c = document.getElementById('sound'), g = c.getContext('2d');
      const out = [];
      for (let f = {f0}; f < {f1}; f++) {{
        const x = Math.round(v.gutterW + (f + 0.5) * v.cellW - v.scrollX);
        const d = g.getImageData(x, 50, 1, 120).data; let r = 0, gg = 0, b = 0;
        for (let i = 0; i < d.length; i += 4) {{ r += d[i]; gg += d[i + 1]; b += d[i + 2]; }}
        out.push([r, gg, b].map((s) => s / (d.length / 4)));
      }}
      return out; }})()""")
    return np.array(data)


def test_page_plays_the_sound_and_draws_it(served_demo, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, problems, _ = open_page(browser, served_demo.url)
    try:
        assert page.input_value("#hear") == "browser", "with no audio device the page should play in the browser"
        page.wait_for_function("Distill.state.sound.samples.length > 0 && Distill.state.soundView.spectrum.columns > 0",
                               timeout=30000)
        peak = page.evaluate("""(() => { const n = 1024, re = new Float32Array(n), im = new Float32Array(n);
          for (let i = 0; i < n; i++) re[i] = Math.sin(2 * Math.PI * 37 * i / n);
          Distill.fft(re, im); let best = 0;
          for (let k = 1; k < n / 2; k++) if (Math.hypot(re[k], im[k]) > Math.hypot(re[best], im[best])) best = k;
          return [best, Math.hypot(re[best], im[best])]; })()""")
        assert peak[0] == 37 and abs(peak[1] - 512) < 1e-2, f"the page's FFT is wrong: {peak}"  # n/2 for a unit sine
        frames = page.evaluate("Distill.state.model.frames")
        assert page.evaluate("Distill.state.sound.frames") == frames
        page.wait_for_timeout(200)  # one animation frame paints the canvas
        before = spectrogram_columns(page, 0, frames)
        assert before.std(axis=0).max() > 1.0, "the spectrogram is one flat colour"
        page.screenshot(path=str(ARTIFACTS / "sound-before-edit.png"), full_page=True)

        page.click("#play")
        page.wait_for_function("Distill.state.sound.ctx && Distill.state.sound.ctx.state === 'running'", timeout=10000)
        page.wait_for_function("Distill.state.sound.level() > 1e-3", timeout=10000)
        t0 = page.evaluate("Distill.state.sound.position()")
        page.wait_for_timeout(300)
        assert page.evaluate("Distill.state.sound.position()") > t0, "the playhead does not move"
        assert page.evaluate("Distill.state.view.playheadS") > 0

        # an edit: fill frames [f0, f1] of every level with one code; only nearby segments are fetched
        levels = page.evaluate("Distill.state.model.levels")
        segments = page.evaluate("Distill.state.sound.etags.length")
        syncs = page.evaluate("Distill.state.sound.stats.syncs")
        f0, f1 = frames // 2, frames // 2 + 20
        drag_select(page, levels, f0, f1)
        page.fill("#brush-code", "3")
        page.dispatch_event("#brush-code", "input")
        page.click("#op-fill")
        # read the fetched list in the same evaluation that sees it: a later sync with nothing to fetch
        # (a second notification of the same edit) empties lastFetched again
        fetched = page.wait_for_function(
            f"""(() => {{ const s = Distill.state.sound.stats;
                return s.syncs > {syncs} && s.lastFetched.length > 0 ? s.lastFetched.slice() : null; }})()""",
            timeout=30000).json_value()
        assert 0 < len(fetched) < segments, (fetched, segments)
        page.wait_for_timeout(200)
        after = spectrogram_columns(page, 0, frames)
        diff = np.abs(after - before).sum(axis=1)  # per column
        assert diff[f0 + 2:f1 - 2].mean() > 5, "the spectrogram did not change where the sound was edited"
        far = [f for f in range(frames) if f < f0 - 40 or f > f1 + 40]
        assert far and diff[far].max() < 1e-6, "columns far from the edit changed"
        assert page.evaluate("Distill.state.sound.playing"), "playback stopped at the edit"
        page.screenshot(path=str(ARTIFACTS / "sound-after-edit.png"), full_page=True)

        # Loop the selection: the playhead (heard and drawn) stays inside it
        page.click("#op-loop")
        rate = page.evaluate("Distill.state.model.frameRateHz")
        start_s, end_s = f0 / rate, (f1 + 1) / rate
        page.wait_for_function(f"(() => {{ const t = Distill.state.sound.position(); return t >= {start_s} && t < {end_s}; }})()")
        for _ in range(12):
            heard, drawn = page.evaluate("[Distill.state.sound.position(), Distill.state.view.playheadS]")
            assert start_s - 1e-6 <= heard < end_s + 1e-6, (heard, start_s, end_s)
            assert abs(drawn - heard) < 0.1 or abs(drawn - heard) > end_s - start_s - 0.1, (drawn, heard)
            page.wait_for_timeout(60)
        assert page.evaluate("Distill.state.view.loop") == {"frame0": f0, "frame1": f1}
        page.click("#stop")
        assert not page.evaluate("Distill.state.sound.playing")
    finally:
        page.close()
    assert not problems, "\n".join(problems)


def test_sound_refusals_are_sentences():
    """No model: 'no sound yet'; a grid longer than the bound: refused with its length (the web
    endpoint turns both into an index with `refused`, and segments into 404 / 413)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from engine.codec.model import Model
    from engine.codes import Codes
    from engine.server.sound import GridSound, SoundRefused
    model = Model.load(DEMO)
    codes = Codes(np.zeros((4, 200), np.int64), 32, model.code_frame_rate_hz, model.model_id)  # ~4.3 s
    sound = GridSound(max_s=2.0)

    def current(state):  # on a thread of its own: playwright's sync API keeps a loop running on this one
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, sound.current(SimpleNamespace(state=state))).result(60)

    try:
        with pytest.raises(SoundRefused) as e:
            current(SimpleNamespace(model=None, session=None, version=0))
        assert e.value.status == 404 and "no sound yet" in str(e.value)
        with pytest.raises(SoundRefused) as e:
            current(SimpleNamespace(model=model, session=SimpleNamespace(codes=codes), version=1))
        assert e.value.status == 413 and "4 s long" in str(e.value) and "--device" in str(e.value)
    finally:
        sound.close()

