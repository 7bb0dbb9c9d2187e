"""Codec evaluation: mel L1 and codebook health on given data, and the continuous A/B baseline.

The baseline is the same network with the quantizer bypassed, trained on the same training files
for the same number of epochs; the ratio RVQ / continuous validation mel L1 is what quantizing
costs, the number to push down.
"""
from __future__ import annotations

from dataclasses import replace

from engine.audio import Audio
from engine.config import Config
from engine.dataset import mel_set, split_by_file
from engine.health import level_health
from engine.model import Model
from engine.train import TrainResult, augmented_code_change, eval_codes, mel_l1, train_codec


def evaluate_codec(model: Model, audios: list[Audio]) -> dict:
    """`codec` {val_mel_l1, levels} of `model` on every file of `audios` (eval mode)."""
    mels = mel_set(audios, model.config.audio)
    health = level_health(eval_codes(model.codec, list(mels.mels)), model.config.codec.codebook_size)
    return {"val_mel_l1": mel_l1(model.codec, list(mels.mels)), "levels": [h.to_json() for h in health],
            "augmented_code_change": augmented_code_change(model.codec, list(mels.mels)), "files": len(audios)}


def train_baseline(config: Config, audios: list[Audio], epochs: int) -> TrainResult:
    """The continuous A/B baseline: `config`'s network with the quantizer bypassed, trained for
    exactly `epochs` epochs (no early stop) on the same file split as the RVQ model."""
    baseline_cfg = replace(config, codec=replace(config.codec, bypass_quantizer=True),
                           train=replace(config.train, max_epochs=max(epochs, 1), patience_epochs=10**6))
    return train_codec(audios, [], baseline_cfg)


def evaluate_with_baseline(model: Model, audios: list[Audio]) -> dict:
    """RVQ vs continuous on the validation split of `audios` (the same split training used)."""
    cfg: Config = model.config
    mels = mel_set(audios, cfg.audio)
    train_idx, val_idx = split_by_file(mels.names, cfg.train.val_share, cfg.train.seed)
    val_idx = val_idx or train_idx
    epochs = int(model.bundle.meta.get("report", {}).get("codec", {}).get("epochs", cfg.train.max_epochs))
    baseline = train_baseline(cfg, audios, epochs)
    val_mels = [mels.mels[i] for i in val_idx]
    rvq_l1 = mel_l1(model.codec, val_mels)
    base_l1 = mel_l1(_codec_of(baseline), val_mels, quantize=False)
    return {"codec": {**evaluate_codec(model, audios), "val_mel_l1": rvq_l1},
            "baseline": {"val_mel_l1": base_l1, "epochs": baseline.report["codec"]["epochs"]},
            "ratio": rvq_l1 / base_l1 if base_l1 > 0 else float("inf"),
            "validation_files": [mels.names[i] for i in val_idx]}


def _codec_of(result) -> "Codec":  # noqa: F821 - the baseline's torch module
    return Model(result.bundle).codec
