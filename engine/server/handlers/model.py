"""Model, training and session routes: the library, load/info/export, train, session save/load.

Loading and training run on the worker: `work` reads files and builds values, `commit` (on the
dispatcher) swaps them in, so the server keeps answering while a model loads.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.bundle import BUNDLE_SUFFIX
from engine.errors import InputError
from engine.server.handlers import done, handles
from engine.server.jobs import Job
from engine.server.paths import confine

EMPTY_GRID_S = 2.0  # a fresh session's grid before anything is generated or encoded


def frame_rate_of(model) -> float:
    return float(model.code_frame_rate_hz)


def load_model_values(path: Path, progress) -> dict:
    """Reads model, prior and the session next to the model (or a fresh grid). Worker thread."""
    from engine.codes import Codes
    from engine.runtime import LiveModel  # torch-free: torch loads only for encoding and moves
    from engine.session import Session, SessionError, default_session_path, load_session
    progress(0.1, "loading model")
    model = LiveModel.load(path)
    prior, notes = None, []
    if "prior" in model.bundle.tensors:
        from engine.live_prior import generation_prior  # ONNX; torch only for a model not re-exported
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


def install_model(core, values: dict) -> None:
    """Dispatcher thread: makes a loaded model current."""
    path: Path = values["path"]
    core.autosave()  # the previous model's session
    core.model, core.prior, core.model_path = values["model"], values["prior"], path
    core.model_name = path.name[: -len(BUNDLE_SUFFIX)] if path.name.endswith(BUNDLE_SUFFIX) else path.stem
    core.labels = None
    core.codebooks = values.get("codebooks")
    core.audio.set_model(core.model, path)
    if core.voices:  # layers of the previous model's prior
        core.voices = []
        core.audio.set_voices([])
    core.session = None  # a new model: the whole grid is new
    core.commit_session(values["session"])
    core.dirty = False
    try:
        core.audio.fx_restore(values["session"].present.effects)
    except InputError as e:
        core.log(f"distill serve: effect chain not restored ({e})")
    core.notify("/model", [core.model_name, core.model.model_id])
    import gc
    gc.collect()
    gc.freeze()  # torch's many long-lived objects leave the collector's view: no multi-ms gen-2 pauses
    if values.get("note"):
        core.log(f"distill serve: {values['note']}")


def model_path(core, name: str) -> Path:
    path = confine(core.roots.models, name, "model", suffix=BUNDLE_SUFFIX)
    if not path.is_file():
        raise InputError(f"no model {name!r} in {core.roots.models} (send /model/list to see them)")
    return path


def require_model(core):
    if core.model is None or core.session is None:
        raise InputError("no model loaded: send /model/load NAME first")
    return core.model


@handles("/model/list")
def model_list(core, client, args):
    """Reads the manifests on the reader thread (cached by mtime and size): a huge or slow file in the
    models folder never stalls /ping or the grid."""
    from engine.library import list_models
    folder, needle = core.roots.models, args[0] if args else ""

    def commit(entries):
        out = [("/model/entry", [e.name, e.levels, e.codebook_size, e.files, e.health, e.created]) for e in entries]
        return out + done("/model/list", len(entries))
    return Job("/model/list", lambda progress, cancelled: list_models(folder, needle), commit, quick=True)


@handles("/model/load")
def model_load(core, client, args):
    return load_job(core, model_path(core, args[0]))


def load_job(core, path: Path) -> Job:
    """The job that loads `path` (already confined, or named on the command line by the user)."""
    def commit(values):
        install_model(core, values)
        m = core.model
        return done("/model/load", core.model_name, m.model_id, m.config.codec.levels,
                    m.config.codec.codebook_size, frame_rate_of(m))
    return Job("/model/load", lambda progress, cancelled: load_model_values(path, progress), commit)


@handles("/model/info")
def model_info(core, client, args):
    model = require_model(core)
    report = model.bundle.meta.get("report", {}) or {}
    health = report.get("health", {}) or {}
    files = report.get("files", {}).get("used", 0)
    info = {"name": core.model_name, "model_id": model.model_id, "levels": model.config.codec.levels,
            "codebook_size": model.config.codec.codebook_size, "frame_rate_hz": frame_rate_of(model),
            "sample_rate": model.config.audio.sample_rate, "files": len(files) if isinstance(files, list) else int(files),
            "health": str(health.get("verdict", "unknown")), "message": str(health.get("message", "")),
            "created": model.bundle.created, "has_prior": int(core.prior is not None),
            "has_onnx": int(any(name.endswith(".onnx") for name in model.bundle.files))}
    return [("/model/info", [x for kv in info.items() for x in kv])]


@handles("/model/export")
def model_export(core, client, args):
    require_model(core)
    path = core.model_path
    try:
        from engine.commands import export as export_command
    except ImportError:
        raise InputError("export is not available in this build (engine/commands/export.py is missing)") from None

    def work(progress, cancelled):
        progress(0.1, "exporting")
        parser = argparse.ArgumentParser()
        export_command.add_arguments(parser)
        if export_command.run(parser.parse_args([str(path)])) != 0:
            raise InputError(f"export of {path.name} failed")
        return load_model_values(path, progress)

    def commit(values):
        install_model(core, values)
        return done("/model/export", str(path))
    return Job("/model/export", work, commit)


# ------------------------------------------------------------ training
@handles("/train/start")
def train_start(core, client, args):
    folder = confine(core.roots.inputs, args[0], "training folder")
    if not folder.is_dir():
        raise InputError(f"training folder {args[0]!r} is not a folder inside {core.roots.inputs}")
    out = confine(core.roots.models, args[1], "model name", suffix=BUNDLE_SUFFIX)
    if out.exists():
        raise InputError(f"a model named {args[1]!r} exists already; choose another name")
    if core.train_status["state"] == "running":
        raise InputError("a training run is going on; send /train/cancel first")
    argv = [str(folder), "--out", str(out)] + (["--max-minutes", str(args[2])] if len(args) > 2 else [])
    for item in core.train_overrides:
        argv += ["--set", item]
    core.train_status = {"state": "running", "epoch": 0, "epochs": 0, "train_loss": 0.0, "val_loss": 0.0}

    def on_row(row: dict) -> None:  # worker thread: hand the row to the dispatcher
        core.post(on_epoch, dict(row))

    def on_epoch(row: dict) -> None:
        epoch, epochs = int(row.get("epoch", 0)) + 1, int(row.get("max_epochs", 0))
        core.train_status.update(epoch=epoch, epochs=epochs, train_loss=float(row.get("train_loss", 0.0)),
                                 val_loss=float(row.get("val_mel_l1", 0.0)))
        core.notify("/train/epoch", [epoch, epochs, core.train_status["train_loss"], core.train_status["val_loss"]],
                    also=client)
        for level, h in enumerate(row.get("levels", [])):
            core.notify("/train/health", [epoch, level, float(h.get("utilization", 0.0)),
                                          float(h.get("perplexity", 0.0)), int(h.get("dead_codes", 0)),
                                          str(row.get("verdict", ""))], also=client)

    def work(progress, cancelled):
        return run_training(argv, on_row, cancelled)

    def commit(report):
        core.train_status["state"] = "done"
        health = report.get("health", {})
        core.notify("/train/verdict", [str(health.get("verdict", "")), str(health.get("message", ""))], also=client)
        return done("/train/start", str(out))

    job = Job("/train/start", work, commit)
    job.on_fail = lambda error: core.train_status.update(state="cancelled" if error == "cancelled" else "failed")
    return job


def run_training(argv: list[str], on_row, cancelled) -> dict:
    """`distill train` in this process, with progress rows and a stop flag. Worker thread."""
    from engine.bundle import save_bundle
    from engine.commands import train as train_command
    from engine.commands.common import load_usable
    from engine.server.jobs import Cancelled
    from engine.train import TrainingInterrupted, train_codec
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args(argv)
    probe = train_command.resolve_config(args, 1)
    used, skipped = load_usable(args.data_dir, probe.audio.sample_rate, probe.audio.min_duration_s,
                                max_duration_s=probe.audio.max_file_duration_s)
    config = train_command.resolve_config(args, len(used))
    out = Path(args.out)
    try:
        result = train_codec(used, skipped, config, checkpoint_path=out.with_name(out.name + ".ckpt"),
                             progress=on_row, stop=cancelled)
    except TrainingInterrupted:
        raise Cancelled() from None
    if cancelled():
        raise Cancelled()
    bundle = result.bundle
    for step in train_command.finishing_steps(args):
        bundle = step(bundle, result, config)
    save_bundle(out, bundle)
    return bundle.meta["report"]


@handles("/train/progress")
def train_progress(core, client, args):
    s = core.train_status
    return [("/train/progress", [s["state"], s["epoch"], s["epochs"], s["train_loss"], s["val_loss"]])]


@handles("/train/cancel")
def train_cancel(core, client, args):
    if core.worker.cancel("/train/start") == 0:
        raise InputError("no training run to cancel")
    return done("/train/cancel")


# ------------------------------------------------------------ sessions
def session_path(core, name: str | None) -> Path:
    from engine.session import SESSION_SUFFIX, default_session_path
    require_model(core)
    if not name:
        return default_session_path(core.model_path)
    return confine(core.roots.models, name if name.endswith(SESSION_SUFFIX) else name + SESSION_SUFFIX, "session")


@handles("/session/save")
def session_save(core, client, args):
    from engine.session import save_session
    path = session_path(core, args[0] if args else None)
    session = core.session
    save_session(path, session)
    if path == session_path(core, None):
        core.dirty = False
    return done("/session/save", str(path))


@handles("/session/load")
def session_load(core, client, args):
    from engine.session import load_session
    path = session_path(core, args[0] if args else None)
    model_id = core.model.model_id

    def commit(session):
        core.commit_session(session)  # restores the saved effect chain when it differs
        return done("/session/load", core.version)
    return Job("/session/load", lambda progress, cancelled: load_session(path, model_id), commit)
