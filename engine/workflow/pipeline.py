"""Training and export as plain functions: what `distill train` / `distill export` do, callable by
the CLI and by the server (`/train/start`, `/model/export`) alike, with progress and a stop flag.

Training is the codec, its code labels, then (each optional) the prior and the ONNX graphs for the
live path. With a prior, a first playable model is written as soon as the codec is done and the
prior has trained a little; the final model replaces it, both atomically.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.config import Config, load_toml
from engine.errors import InputError

Log = Callable[[str], None]
EARLY_LINE = "distill train: first playable model"  # the log line that announces the early bundle


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


@dataclass(frozen=True)
class TrainRequest:
    """One training run: `data_dir` (audio files, searched recursively) -> `out` (MODEL.distill)."""

    data_dir: Path
    out: Path
    seed: int = 0  # the same seed and data give the same model on CPU
    max_minutes: float | None = None  # the codec's time budget
    overrides: tuple[str, ...] = ()  # `section.key=value` config overrides
    config_path: Path | None = None  # TOML with [audio] [codec] [prior] [train]
    resume: bool = False  # continue from the checkpoint an interrupted run left
    prior: bool = True
    export: bool = True

    def __post_init__(self) -> None:
        if Path(self.out).suffix != ".distill":
            raise InputError(f"--out {self.out}: a model file must end in .distill")

    @property
    def checkpoint_path(self) -> Path:
        out = Path(self.out)
        return out.with_name(out.name + ".ckpt")


def resolve_config(request: TrainRequest, usable_files: int) -> Config:
    """The config of a run: the TOML (or defaults), the seed and budget, the overrides, then the
    defaults that adapt to the number of usable files."""
    from engine.codec.train import with_resolved_defaults
    base = load_toml(request.config_path) if request.config_path else Config()
    overrides = [f"train.seed={request.seed}", *request.overrides]
    if request.max_minutes is not None:
        overrides.append(f"train.max_minutes={request.max_minutes}")
    return with_resolved_defaults(base, usable_files, overrides)


def usable_audio(data_dir: str | Path, sample_rate: int, min_duration_s: float, log: Log | None = _stderr,
                 max_duration_s: float | None = None) -> tuple[list, list]:
    """(used Audio, Skipped) of a folder; logs each skipped file; InputError when none is usable."""
    from engine.signal.audio import MAX_FILE_DURATION_S, scan_folder
    max_duration_s = MAX_FILE_DURATION_S if max_duration_s is None else max_duration_s
    used, skipped = scan_folder(Path(data_dir), sample_rate, min_duration_s, max_duration_s)
    if log is not None:
        for s in skipped:
            log(f"skipped {s.path}: {s.reason}")
    if not used:
        raise InputError(f"{data_dir}: no usable audio ({len(skipped)} files skipped; "
                         f"Distill reads wav, flac, ogg/oga, aiff and mp3 of {min_duration_s} s to "
                         f"{max_duration_s / 60:g} min)")
    return used, skipped


def load_training_data(request: TrainRequest, log: Log | None = _stderr) -> tuple[list, list, Config]:
    """(used audio, skipped files, config) of a run; InputError when no file is usable."""
    probe = resolve_config(request, 1)  # the audio settings decide how files are read
    used, skipped = usable_audio(request.data_dir, probe.audio.sample_rate, probe.audio.min_duration_s, log,
                                 probe.audio.max_file_duration_s)
    return used, skipped, resolve_config(request, len(used))


def train_model(request: TrainRequest, data: tuple[list, list, Config] | None = None,
                progress: Callable[[dict], None] | None = None, stop: Callable[[], bool] | None = None,
                log: Log = _stderr, prior_progress: Callable[[dict], None] | None = None,
                started: float | None = None) -> dict:
    """Trains and writes `request.out`; returns the training report. `progress(row)` gets each
    codec epoch's row, `prior_progress(row)` each evaluation of the prior (step, train_loss, ...); `stop()` true ends the run with `engine.codec.train.TrainingInterrupted` (a
    checkpoint stays for `resume`) and nothing is written.

    With a prior, a first playable model (the final codec, its labels and ONNX graphs, and the prior
    after `train.early_bundle_prior_steps` steps) is saved to `request.out` while the prior trains on;
    the final model replaces it atomically. `started` (time.monotonic() when the command began)
    anchors `timings.first_playable_s` and `total_s`; by default, the call itself."""
    from engine.bundle import save_bundle
    from engine.codec.train import TrainingInterrupted, train_codec
    from engine.prior.train import Early
    started = time.monotonic() if started is None else started
    used, skipped, config = data if data is not None else load_training_data(request)
    result = train_codec(used, skipped, config, checkpoint_path=request.checkpoint_path, resume=request.resume,
                         progress=progress, stop=stop)
    if stop is not None and stop():
        raise TrainingInterrupted(request.checkpoint_path)
    timings: dict[str, float] = {}
    log("distill train: code labels")
    mark = time.monotonic()
    bundle = _labelled(result.bundle, result)  # labels read the codec only: one measurement serves both bundles
    timings["labels_s"] = time.monotonic() - mark
    if request.prior:
        log("distill train: prior")
        early = _EarlyBundle(request, bundle, log, started, stop)
        mark = time.monotonic()
        bundle = _with_prior(bundle, result, config, prior_progress,
                             Early(config.train.early_bundle_prior_steps, early.write))
        timings["prior_s"] = time.monotonic() - mark - early.spent_s
        if early.written_s is not None:
            timings["first_playable_s"] = early.written_s
    if request.export:
        from engine.live.export import export_bundle
        log("distill train: ONNX graphs")
        mark = time.monotonic()
        bundle = export_bundle(bundle)
        timings["export_s"] = time.monotonic() - mark
    bundle = _with_plot_data(bundle, result)
    if stop is not None and stop():
        raise TrainingInterrupted(request.checkpoint_path)
    timings["total_s"] = time.monotonic() - started
    timings.setdefault("first_playable_s", timings["total_s"])  # no early bundle: the final one is the first
    bundle = _with_timings(bundle, timings)
    save_bundle(request.out, bundle)
    return bundle.meta["report"]


class _EarlyBundle:
    """Writes the first playable model (codec, labels, ONNX graphs, an early prior) to `request.out`
    once, atomically, from inside the prior's training; the time it takes is kept apart."""

    def __init__(self, request: TrainRequest, bundle, log: Log, started: float, stop: Callable[[], bool] | None):
        self.request, self.bundle, self.log, self.started, self.stop = request, bundle, log, started, stop
        self.written_s: float | None = None
        self.spent_s = 0.0

    def write(self, prior_tensors: dict, step: int) -> None:
        from engine.bundle import save_bundle
        if self.stop is not None and self.stop():
            return  # a cancelled run writes nothing
        mark = time.monotonic()
        report = dict(self.bundle.meta.get("report", {}))
        report["early"] = {"prior_steps": step, "note": "first playable model; training goes on and replaces it"}
        bundle = self.bundle.with_tensors("prior", prior_tensors).with_meta(report=report)
        if self.request.export:
            from engine.live.export import export_bundle
            bundle = export_bundle(bundle)
        self.written_s = time.monotonic() - self.started
        bundle = _with_timings(bundle, {"first_playable_s": self.written_s})
        save_bundle(self.request.out, bundle)
        self.spent_s = time.monotonic() - mark
        self.log(f"{EARLY_LINE} in {self.written_s:.0f} s: {self.request.out} "
                 f"(prior after {step} steps; training goes on)")


def _with_timings(bundle, timings: dict):
    report = dict(bundle.meta.get("report", {}))
    report["timings"] = {**report.get("timings", {}), **{k: round(v, 3) for k, v in timings.items()}}
    return bundle.with_meta(report=report)


def _with_prior(bundle, result, config, progress=None, early=None):
    """The prior, trained on the codec's split; its evaluations kept in the report (for loss.png)."""
    from engine.prior.train import prior_finishing_step
    history: list[dict] = []

    def evaluated(row: dict) -> None:
        history.append({k: row.get(k) for k in ("step", "train_loss", "val_perplexity", "elapsed_s")})
        if progress is not None:
            progress(row)
    out = prior_finishing_step(bundle, result, config, progress=evaluated, early=early)
    report = dict(out.meta.get("report", {}))
    report["prior_training"] = {**report.get("prior_training", {}), "history": history}
    return out.with_meta(report=report)


def _with_plot_data(bundle, result):
    """The report gains what spectrogram.png needs (a validation clip and its reconstruction), so
    that `distill info --plots` can draw it from the bundle alone."""
    from engine.codec.model import Model
    from engine.workflow.plots import spectrogram_record
    index = (result.val_idx or result.train_idx)[0]
    record = spectrogram_record(Model(bundle), result.mels.mels[index], result.mels.names[index])
    report = dict(bundle.meta.get("report", {}))
    report["plots"] = {**report.get("plots", {}), "spectrogram": record}
    return bundle.with_meta(report=report)


def _labelled(bundle, result):
    from engine.codec.model import Model
    from engine.edit.labels import label_bundle
    return label_bundle(Model(bundle), mels=[result.mels.mels[i] for i in result.train_idx])


def export_model(path: str | Path, progress: Callable[[int, str], None] | None = None) -> dict:
    """(Re)adds the self-tested ONNX graphs (decoder; prior when the model has one) to the model at
    `path` and recomputes its code labels from the context windows they store; rewrites the file
    atomically. `progress(steps_done, message)` of 3 steps. Returns the ONNX info (parity figures)."""
    from engine.bundle import load_bundle, save_bundle
    from engine.codec.model import Model
    from engine.edit.labels import label_bundle
    from engine.live.export import export_bundle  # imports torch: only when called
    report = progress or (lambda done, message: None)
    bundle = load_bundle(path)
    if "labels" in bundle.meta:
        report(0, "labelling the codes")
        bundle = label_bundle(Model(bundle))
    report(1, "exporting the decoder (and prior) to ONNX and checking them against torch")
    bundle = export_bundle(bundle)
    report(2, "saving")
    save_bundle(path, bundle)
    return bundle.meta["onnx"]
