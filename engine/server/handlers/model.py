"""Model, training and session routes: the library, load/info/export, train, session save/load.

Loading and training run on the worker: `work` reads files and builds values, `commit` (on the
dispatcher) swaps them in, so the server keeps answering while a model loads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.bundle import BUNDLE_SUFFIX
from engine.errors import InputError
from engine.server.core import Client, Core
from engine.server.jobs import Job
from engine.server.paths import confine
from engine.server.state import TrainStatus
from engine.server.wire import Args, HandlerTable, Replies, done

TABLE = HandlerTable()

EMPTY_GRID_S = 2.0  # a fresh session's grid before anything is generated or encoded


def frame_rate_of(model) -> float:
    return float(model.code_frame_rate_hz)


def load_model_values(path: Path, progress) -> dict:
    """Reads model, prior and the session next to the model (or a fresh grid). Worker thread."""
    from engine.codes import Codes
    from engine.edit.session import Session, SessionError, default_session_path, load_session
    from engine.live.decoder import LiveModel  # torch-free: torch loads only for encoding and moves
    progress(0.1, "loading model")
    model = LiveModel.load(path)
    prior, notes = None, []
    if "prior" in model.bundle.tensors:
        from engine.live.prior import generation_prior  # ONNX; torch only for a model not re-exported
        progress(0.5, "loading prior")
        prior = generation_prior(model.bundle, str(path), warn=notes.append)
    session, note = None, " ".join(notes)
    session_path = default_session_path(path)
    if session_path.exists():
        try:
            session = load_session(session_path, model.model_id)
        except SessionError as e:
            note = f"session not restored ({e})"
    if session is None:
        cfg = model.config.codec
        frames = max(1, int(round(EMPTY_GRID_S * frame_rate_of(model))))
        codes = Codes(np.zeros((cfg.levels, frames), np.int64), cfg.codebook_size, frame_rate_of(model), model.model_id)
        session = Session.new(codes, str(path))
    try:
        codebooks = model.codebook_vectors()  # [Q, K, d] for blend and morph
    except Exception as e:  # an older bundle: everything but blend/morph still works
        codebooks, note = None, f"{note} codebooks unavailable ({e})".strip()
    return {"model": model, "prior": prior, "session": session, "path": path, "note": note,
            "codebooks": codebooks}


def install_model(core: Core, values: dict) -> None:
    """Dispatcher thread: makes a loaded model current."""
    path: Path = values["path"]
    core.autosave()  # the previous model's session
    core.state.model, core.state.prior, core.state.model_path = values["model"], values["prior"], path
    core.state.model_name = path.name[: -len(BUNDLE_SUFFIX)] if path.name.endswith(BUNDLE_SUFFIX) else path.stem
    core.state.labels = None
    core.state.codebooks = values.get("codebooks")
    core.audio.set_model(core.state.model, path)
    if core.state.voices:  # layers of the previous model's prior
        core.state.voices = []
        core.audio.set_voices([])
    core.state.session = None  # a new model: the whole grid is new
    core.commit_session(values["session"])
    core.state.dirty = False
    try:
        core.audio.fx_restore(values["session"].present.effects)
    except InputError as e:
        core.log(f"distill serve: effect chain not restored ({e})")
    core.notify("/model", [core.state.model_name, core.state.model.model_id])
    import gc
    gc.collect()
    gc.freeze()  # torch's many long-lived objects leave the collector's view: no multi-ms gen-2 pauses
    if values.get("note"):
        core.log(f"distill serve: {values['note']}")


def model_path(core: Core, name: str) -> Path:
    path = confine(core.roots.models, name, "model", suffix=BUNDLE_SUFFIX)
    if not path.is_file():
        raise InputError(f"no model {name!r} in {core.roots.models} (send /model/list to see them)")
    return path


@TABLE.handles("/model/list")
def model_list(core: Core, client: Client, args: Args) -> Job:
    """Reads the manifests on the reader thread (cached by mtime and size): a huge or slow file in the
    models folder never stalls /ping or the grid."""
    from engine.server.library import list_models
    folder, needle = core.roots.models, args[0] if args else ""

    def commit(entries):
        out = [("/model/entry", [e.name, e.levels, e.codebook_size, e.files, e.health, e.created]) for e in entries]
        return out + done("/model/list", len(entries))
    return Job("/model/list", lambda progress, cancelled: list_models(folder, needle), commit, quick=True)


@TABLE.handles("/model/load")
def model_load(core: Core, client: Client, args: Args) -> Job:
    return load_job(core, model_path(core, args[0]))


def load_job(core: Core, path: Path) -> Job:
    """The job that loads `path` (already confined, or named on the command line by the user)."""
    def commit(values):
        install_model(core, values)
        m = core.state.model
        return done("/model/load", core.state.model_name, m.model_id, m.config.codec.levels,
                    m.config.codec.codebook_size, frame_rate_of(m))
    return Job("/model/load", lambda progress, cancelled: load_model_values(path, progress), commit)


@TABLE.handles("/model/info")
def model_info(core: Core, client: Client, args: Args) -> Replies:
    model = core.state.require_model()
    report = model.bundle.meta.get("report", {}) or {}
    health = report.get("health", {}) or {}
    files = report.get("files", {}).get("used", 0)
    info = {"name": core.state.model_name, "model_id": model.model_id, "levels": model.config.codec.levels,
            "codebook_size": model.config.codec.codebook_size, "frame_rate_hz": frame_rate_of(model),
            "sample_rate": model.config.audio.sample_rate, "files": len(files) if isinstance(files, list) else int(files),
            "health": str(health.get("verdict", "unknown")), "message": str(health.get("message", "")),
            "created": model.bundle.created, "has_prior": int(core.state.prior is not None),
            "has_onnx": int(any(name.endswith(".onnx") for name in model.bundle.files))}
    return [("/model/info", [x for kv in info.items() for x in kv])]


@TABLE.handles("/model/export")
def model_export(core: Core, client: Client, args: Args) -> Job:
    core.state.require_model()
    path = core.state.model_path
    assert path is not None

    def work(progress, cancelled) -> dict:
        from engine.workflow.pipeline import export_model
        progress(0.1, "exporting")
        export_model(path)
        return load_model_values(path, progress)

    def commit(values: dict) -> Replies:
        install_model(core, values)
        return done("/model/export", str(path))
    return Job("/model/export", work, commit)


# ------------------------------------------------------------ training
@TABLE.handles("/train/start")
def train_start(core: Core, client: Client, args: Args) -> Job:
    from engine.workflow.pipeline import TrainRequest
    st = core.state
    folder = confine(core.roots.inputs, args[0], "training folder")
    if not folder.is_dir():
        raise InputError(f"training folder {args[0]!r} is not a folder inside {core.roots.inputs}")
    out = confine(core.roots.models, args[1], "model name", suffix=BUNDLE_SUFFIX)
    if out.exists():
        raise InputError(f"a model named {args[1]!r} exists already; choose another name")
    if st.train.state == "running":
        raise InputError("a training run is going on; send /train/cancel first")
    request = TrainRequest(folder, out, max_minutes=args[2] if len(args) > 2 else None,
                           overrides=tuple(st.train_overrides))
    st.train = TrainStatus(state="running")

    def on_row(row: dict) -> None:  # worker thread: hand the row to the dispatcher
        core.post(on_epoch, dict(row))

    def on_epoch(row: dict) -> None:
        t = st.train
        t.epoch, t.epochs = int(row.get("epoch", 0)) + 1, int(row.get("max_epochs", 0))
        t.train_loss, t.val_loss = float(row.get("train_loss", 0.0)), float(row.get("val_mel_l1", 0.0))
        core.notify("/train/epoch", [t.epoch, t.epochs, t.train_loss, t.val_loss], also=client)
        for level, h in enumerate(row.get("levels", [])):
            core.notify("/train/health", [t.epoch, level, float(h.get("utilization", 0.0)),
                                          float(h.get("perplexity", 0.0)), int(h.get("dead_codes", 0)),
                                          str(row.get("verdict", ""))], also=client)

    def work(progress, cancelled) -> dict:
        return run_training(request, on_row, cancelled)

    def commit(report: dict) -> Replies:
        st.train.state = "done"
        health = report.get("health", {})
        core.notify("/train/verdict", [str(health.get("verdict", "")), str(health.get("message", ""))], also=client)
        return done("/train/start", str(out))

    def on_fail(error: str) -> None:
        st.train.state = "cancelled" if error == "cancelled" else "failed"

    job = Job("/train/start", work, commit)
    job.on_fail = on_fail
    return job


def run_training(request: Any, on_row, cancelled) -> dict:
    """`engine.workflow.pipeline.train_model` with the worker's stop flag. Worker thread."""
    from engine.codec.train import TrainingInterrupted
    from engine.server.jobs import Cancelled
    from engine.workflow.pipeline import train_model
    try:
        return train_model(request, progress=on_row, stop=cancelled)
    except TrainingInterrupted:
        raise Cancelled() from None


@TABLE.handles("/train/progress")
def train_progress(core: Core, client: Client, args: Args) -> Replies:
    t = core.state.train
    return [("/train/progress", [t.state, t.epoch, t.epochs, t.train_loss, t.val_loss])]


@TABLE.handles("/train/cancel")
def train_cancel(core: Core, client: Client, args: Args) -> Replies:
    if core.worker.cancel("/train/start") == 0:
        raise InputError("no training run to cancel")
    return done("/train/cancel")


# ------------------------------------------------------------ sessions
def session_path(core: Core, name: str | None) -> Path:
    from engine.edit.session import SESSION_SUFFIX, default_session_path
    core.state.require_model()
    if not name:
        return default_session_path(core.state.model_path)
    return confine(core.roots.models, name if name.endswith(SESSION_SUFFIX) else name + SESSION_SUFFIX, "session")


@TABLE.handles("/session/save")
def session_save(core: Core, client: Client, args: Args) -> Replies:
    from engine.edit.session import save_session
    path = session_path(core, args[0] if args else None)
    session = core.state.session
    save_session(path, session)
    if path == session_path(core, None):
        core.state.dirty = False
    return done("/session/save", str(path))


@TABLE.handles("/session/load")
def session_load(core: Core, client: Client, args: Args) -> Job:
    from engine.edit.session import load_session
    path = session_path(core, args[0] if args else None)
    model_id = core.state.model.model_id

    def commit(session):
        core.commit_session(session)  # restores the saved effect chain when it differs
        return done("/session/load", core.state.version)
    return Job("/session/load", lambda progress, cancelled: load_session(path, model_id), commit)
