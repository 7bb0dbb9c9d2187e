"""Codec evaluation: mel L1 and codebook health on given data, and the continuous A/B baseline.

The baseline is the same network with the quantizer bypassed, trained on the same training files
for the same number of epochs; the ratio RVQ / continuous validation mel L1 is what quantizing
costs, the number to push down.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.codec.dataset import mel_set, split_by_file
from engine.codec.health import level_health
from engine.codec.model import Model
from engine.codec.train import TrainResult, augmented_code_change, eval_codes, mel_l1, train_codec
from engine.config import Config
from engine.signal.audio import Audio


def evaluate_codec(model: Model, audios: list[Audio]) -> dict:
    """`codec` {val_mel_l1, levels} of `model` on every file of `audios` (eval mode)."""
    mels = mel_set(audios, model.config.audio)
    health = level_health(eval_codes(model.codec, list(mels.mels)), model.config.codec.codebook_size)
    return {"val_mel_l1": mel_l1(model.codec, list(mels.mels)), "levels": [h.to_json() for h in health],
            "augmented_code_change": augmented_code_change(model.codec, list(mels.mels)), "files": len(audios)}


def train_baseline(config: Config, audios: list[Audio], epochs: int, progress=None) -> TrainResult:
    """The continuous A/B baseline: `config`'s network with the quantizer bypassed, trained for
    exactly `epochs` epochs (no early stop; the same time budget) on the same file split as the
    RVQ model."""
    baseline_cfg = replace(config, codec=replace(config.codec, bypass_quantizer=True),
                           train=replace(config.train, max_epochs=max(epochs, 1), patience_epochs=10**6))
    return train_codec(audios, [], baseline_cfg, progress=progress)


def model_baseline(model: Model, audios: list[Audio], progress=None) -> Model:
    """The continuous baseline for `model`, trained on `audios` for the model's own epoch count;
    `progress(row)` after each epoch, as `train_codec` calls it."""
    cfg: Config = model.config
    epochs = int(model.bundle.meta.get("report", {}).get("codec", {}).get("epochs", cfg.train.max_epochs))
    return Model(train_baseline(cfg, audios, epochs, progress).bundle)


def evaluate_with_baseline(model: Model, audios: list[Audio], baseline: Model | None = None) -> dict:
    """RVQ vs continuous on the validation split of `audios` (the same split training used)."""
    cfg: Config = model.config
    mels = mel_set(audios, cfg.audio)
    train_idx, val_idx = split_by_file(mels.names, cfg.train.val_share, cfg.train.seed)
    val_idx = val_idx or train_idx
    baseline = baseline or model_baseline(model, audios)
    val_mels = [mels.mels[i] for i in val_idx]
    rvq_l1 = mel_l1(model.codec, val_mels)
    base_l1 = mel_l1(baseline.codec, val_mels, quantize=False)
    return {"codec": {**evaluate_codec(model, audios), "val_mel_l1": rvq_l1},
            "baseline": {"val_mel_l1": base_l1,
                         "epochs": baseline.bundle.meta["report"]["codec"]["epochs"]},
            "ratio": rvq_l1 / base_l1 if base_l1 > 0 else float("inf"),
            "validation_files": [mels.names[i] for i in val_idx]}


def _record(model: Model) -> dict:
    return model.bundle.meta.get("report", {}).get("files", {})


def trained_set(model: Model, audios: list[Audio]) -> list[Audio]:
    """The files of `audios` the model was trained on (training and validation split), by its
    dataset record; all of `audios` without one. The baseline trains on these, so it sees the
    same split."""
    files = _record(model)
    names = {Path(n).name for n in [*files.get("train", []), *files.get("validation", [])]}
    chosen = [a for a in audios if Path(a.source).name in names]
    return chosen or audios


def split_for_quality(model: Model, audios: list[Audio], heldout: list[Audio] | None = None
                      ) -> tuple[list[Audio], list[Audio], str]:
    """(training files, held-out files, how held-out was chosen) for `--quality` / `--generation`.

    The model's own dataset record decides: its training files are the training split and every
    other file of `audios` (its validation files, files it never saw) is held out. A model
    without a record: the training split rule (by file, `train.val_share`, `train.seed`) on
    `audios`. With `heldout` (`--heldout DIR`) those files are held out instead, and the training
    split is the record's training files (all of `audios` without a record).
    """
    trained = {Path(name).name for name in _record(model).get("train", [])}
    if trained:
        train = [a for a in audios if Path(a.source).name in trained]
        rest = [a for a in audios if Path(a.source).name not in trained]
        how = "the model's dataset record: its training files; held out: every other file of DATA"
    else:
        cfg = model.config.train
        train_idx, val_idx = split_by_file(tuple(a.source for a in audios), cfg.val_share, cfg.seed)
        train, rest = [audios[i] for i in train_idx], [audios[i] for i in val_idx]
        how = "no dataset record in the model: DATA split by file with the training split rule"
    if heldout is not None:
        return (train if trained else audios), heldout, "--heldout DIR"
    return train, rest, how
