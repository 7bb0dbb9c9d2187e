"""Editor figures: history costs, session files, labels and perceptual moves on the demo model.

- `editor_edit_us`: one `set_code` plus `Session.edit` (a history step) on a 4 x 1000 grid.
- `editor_undo_redo_us`: one undo plus one redo, at the end of a 2000-step history.
- `editor_session_save_ms` / `editor_session_load_ms`: a session with a 2000-step history
  (cell changes stored per step) written atomically / read back with its history.
- `editor_labels_s`: `compute_labels` for every level and code of the demo model (decoded in
  8 context windows of its demo sounds).
- `editor_move_ms`: one verified perceptual move ("brighter", 8 frames) on the demo model, against
  the labels-only move in the same run (baseline) - the price of checking candidates on the decoder.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO_MODEL = ROOT / "models" / "demo.distill"


def _grid(frames: int = 1000):
    from engine.codes import Codes

    return Codes(np.random.default_rng(0).integers(0, 32, (4, frames)), 32, 46.875, "bench")


def _history(steps: int = 2000):
    from engine.edit import ops as edits
    from engine.edit.session import Session

    rng = np.random.default_rng(1)
    session = Session.new(_grid())
    for _ in range(steps):
        codes = edits.set_code(session.codes, int(rng.integers(4)), int(rng.integers(1000)), int(rng.integers(32)))
        session = session.edit(codes, "set")
    return session


def edit_us() -> dict:
    from engine.edit import ops as edits
    from engine.edit.session import Session

    session, n = Session.new(_grid()), 2000
    started = time.perf_counter()
    for i in range(n):
        session = session.edit(edits.set_code(session.codes, i % 4, i % 1000, i % 32), "set")
    return {"value": round((time.perf_counter() - started) / n * 1e6, 2), "unit": "us"}


def undo_redo_us() -> dict:
    session, n = _history(), 2000
    started = time.perf_counter()
    for _ in range(n):
        session = session.undo().redo()
    return {"value": round((time.perf_counter() - started) / n * 1e6, 2), "unit": "us"}


def session_files() -> dict:
    from engine.edit.session import load_session, save_session

    session = _history()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.session.json"
        started = time.perf_counter()
        save_session(path, session)
        saved = time.perf_counter() - started
        started = time.perf_counter()
        loaded = load_session(path)
        read = time.perf_counter() - started
        assert np.array_equal(loaded.codes.indices, session.codes.indices)
        size_kb = path.stat().st_size / 1024
    return {"figures": {
        "editor_session_save_ms": {"value": round(saved * 1e3, 1), "unit": "ms", "history_steps": 2000,
                                   "file_kb": round(size_kb, 1)},
        "editor_session_load_ms": {"value": round(read * 1e3, 1), "unit": "ms", "history_steps": 2000},
    }}


def _demo():
    import torch

    from engine.cli.demo_sounds import write_demo_sounds
    from engine.codec.model import Model
    from engine.signal.audio import load_audio
    from engine.signal.stft import single_thread_blas

    torch.set_num_threads(1)
    single_thread_blas()
    model = Model.load(DEMO_MODEL)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_demo_sounds(Path(folder), seed=0, count_per_kind=2)
        sounds = [load_audio(p, model.config.audio.sample_rate) for p in paths]
    return model, [model.encode(s) for s in sounds]


def labels_s() -> dict:
    from engine.edit.labels import compute_labels

    model, grids = _demo()
    started = time.perf_counter()
    compute_labels(model, codes=grids)
    q, k = model.config.codec.levels, model.config.codec.codebook_size
    return {"value": round(time.perf_counter() - started, 2), "unit": "s", "codes": q * k}


def move_ms() -> dict:
    from engine.edit.labels import compute_labels
    from engine.edit.moves import apply_move

    model, grids = _demo()
    labels = compute_labels(model, codes=grids)
    codes = max(grids, key=lambda g: g.n_frames)
    start, end = 4, 12
    timings = {}
    for verify in (True, False):
        apply_move(model, codes, "brighter", start, end, labels=labels, verify=verify)  # warm
        started, n = time.perf_counter(), 5
        for _ in range(n):
            apply_move(model, codes, "brighter", start, end, labels=labels, verify=verify)
        timings[verify] = (time.perf_counter() - started) / n * 1e3
    return {"value": round(timings[True], 1), "unit": "ms", "baseline": round(timings[False], 1),
            "ratio": round(timings[True] / timings[False], 2)}


FIGURES = {
    "editor_edit_us": edit_us,
    "editor_undo_redo_us": undo_redo_us,
    "editor_session_files": session_files,
    "editor_labels_s": labels_s,
    "editor_move_ms": move_ms,
}
