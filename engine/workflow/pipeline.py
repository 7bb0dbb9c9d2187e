"""Training and export as plain functions: what `distill train` / `distill export` do, callable by
the CLI and by the server (`/train/start`, `/model/export`) alike, with progress and a stop flag.

Training is the codec, then (each optional) the prior, the code labels and the ONNX graphs for the
live path; the model file is written once, atomically, at the end.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.config import Config, load_toml
from engine.errors import InputError

Log = Callable[[str], None]


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
                log: Log = _stderr, prior_progress: Callable[[dict], None] | None = None) -> dict:
    """Trains and writes `request.out`; returns the training report. `progress(row)` gets each
    codec epoch's row, `prior_progress(row)` each evaluation of the prior (step, train_loss, ...); `stop()` true ends the run with `engine.codec.train.TrainingInterrupted` (a
    checkpoint stays for `resume`) and nothing is written."""
    from engine.bundle import save_bundle
    from engine.codec.train import TrainingInterrupted, train_codec
    used, skipped, config = data if data is not None else load_training_data(request)
    result = train_codec(used, skipped, config, checkpoint_path=request.checkpoint_path, resume=request.resume,
                         progress=progress, stop=stop)
    if stop is not None and stop():
        raise TrainingInterrupted(request.checkpoint_path)
    bundle = result.bundle
    if request.prior:
        log("distill train: prior")
        bundle = _with_prior(bundle, result, config, prior_progress)
    log("distill train: code labels")
    bundle = _labelled(bundle, result)
    if request.export:
        from engine.live.export import export_bundle
        log("distill train: ONNX graphs")
        bundle = export_bundle(bundle)
    bundle = _with_plot_data(bundle, result)
    if stop is not None and stop():
        raise TrainingInterrupted(request.checkpoint_path)
    save_bundle(request.out, bundle)
    return bundle.meta["report"]


def _with_prior(bundle, result, config, progress=None):
    """The prior, trained on the codec's split; its evaluations kept in the report (for loss.png)."""
    from engine.prior.train import prior_finishing_step
    history: list[dict] = []

    def evaluated(row: dict) -> None:
        history.append({k: row.get(k) for k in ("step", "train_loss", "val_perplexity", "elapsed_s")})
        if progress is not None:
            progress(row)
    out = prior_finishing_step(bundle, result, config, progress=evaluated)
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
