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
    checkpoint stays for `resume`) and nothing more is written (an early playable model already
    written stays where it is).

    With a prior, playable models are saved to `request.out` while training goes on (`_EarlyBundle`:
    in a codec run longer than `train.early_bundle_codec_s`, its best weights so far with a quick prior;
    then the final codec with the prior after `train.early_bundle_prior_steps` steps); the final model
    replaces them atomically. `started` (time.monotonic() when the command began)
    anchors `timings.first_playable_s` and `total_s`; by default, the call itself."""
    from engine.bundle import save_bundle
    from engine.codec.train import TrainingInterrupted, train_codec
    from engine.prior.train import Early
    started = time.monotonic() if started is None else started
    used, skipped, config = data if data is not None else load_training_data(request)
    early = _EarlyBundle(request, config, log, started, stop)
    result = train_codec(used, skipped, config, checkpoint_path=request.checkpoint_path, resume=request.resume,
                         progress=progress, stop=stop, usable=early.codec_usable if request.prior else None)
    if stop is not None and stop():
        raise TrainingInterrupted(request.checkpoint_path)
    timings: dict[str, float] = {}
    log("distill train: code labels")
    mark = time.monotonic()
    bundle = _labelled(result.bundle, result)  # labels read the codec only: one measurement serves both bundles
    timings["labels_s"] = time.monotonic() - mark
    if request.prior:
        log("distill train: prior")
        early.bundle, spent_before = bundle, early.spent_s
        mark = time.monotonic()
        bundle = _with_prior(bundle, result, config, prior_progress,
                             Early(config.train.early_bundle_prior_steps, early.write))
        timings["prior_s"] = time.monotonic() - mark - (early.spent_s - spent_before)
        if early.first_s is not None:
            timings["first_playable_s"] = early.first_s
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
    """Writes playable models to `request.out` (atomically) while training goes on: the codec's best
    healthy weights so far with a quick prior (`codec_usable`, from inside a long codec run), then
    the final codec with the prior after its first steps (`write`, from inside the prior's training).
    `first_s`: when the first one was written; `spent_s`: the time they took."""

    def __init__(self, request: TrainRequest, config: Config, log: Log, started: float,
                 stop: Callable[[], bool] | None):
        self.request, self.config, self.log, self.started, self.stop = request, config, log, started, stop
        self.bundle = None  # the final codec with its labels, once the codec is done
        self.first_s: float | None = None
        self.spent_s = 0.0

    def codec_usable(self, result) -> None:
        from dataclasses import replace
        from engine.codec.model import Model
        from engine.prior.train import encode_for_prior, train_prior
        if self.stop is not None and self.stop():
            return
        mark = time.monotonic()
        cfg = self.config
        bundle = _labelled(result.bundle, result)
        model = Model(bundle)
        train = encode_for_prior(model, [result.mels.mels[i] for i in result.train_idx],
                                 augment_seed=cfg.train.seed if cfg.train.augment else None, variants=1)
        val = [v[0] for v in encode_for_prior(model, [result.mels.mels[i] for i in result.val_idx])]
        steps = max(1, cfg.train.early_bundle_prior_steps)
        prior = train_prior(train, val, cfg.codec.codebook_size, replace(cfg.prior, max_steps=steps),
                            seed=cfg.train.seed, max_seconds=60.0)
        self.spent_s += time.monotonic() - mark
        self._save(bundle.with_tensors("prior", prior.tensors),
                   {"codec_epoch": result.report["codec"]["best_epoch"], "prior_steps": prior.stats["steps"]},
                   f"codec at epoch {result.report['codec']['best_epoch'] + 1}, prior after {prior.stats['steps']} steps; "
                   "the codec trains on")

    def write(self, prior_tensors: dict, step: int) -> None:
        self._save(self.bundle.with_tensors("prior", prior_tensors), {"prior_steps": step},
                   f"prior after {step} steps; training goes on")

    def _save(self, bundle, early: dict, what: str) -> None:
        from engine.bundle import save_bundle
        if self.stop is not None and self.stop():
            return  # a cancelled run writes nothing
        mark = time.monotonic()
        report = dict(bundle.meta.get("report", {}))
        report["early"] = {**early, "note": "a playable model written while training went on; the final one replaces it"}
        bundle = bundle.with_meta(report=report)
        if self.request.export:
            from engine.live.export import export_bundle
            bundle = export_bundle(bundle)
        written_s = time.monotonic() - self.started
        self.first_s = written_s if self.first_s is None else self.first_s
        save_bundle(self.request.out, _with_timings(bundle, {"first_playable_s": self.first_s}))
        self.spent_s += time.monotonic() - mark
        self.log(f"{EARLY_LINE} in {written_s:.0f} s: {self.request.out} ({what})")


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
