"""Tiny real models shared by the editor tests (labels, moves, CLI): each is trained once per test
process (a cached function, not a fixture, so every module reuses the same one)."""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from engine.cli.common import load_usable
from engine.config import Config

TINY = ["codec.hidden_channels=32", "codec.latent_dim=16", "codec.levels=2", "codec.codebook_size=8",
        "codec.codebook_dim=8", "train.max_epochs=20", "train.threads=1", "train.batch_size=8",
        "train.patience_epochs=100"]


@functools.lru_cache(maxsize=4)
def trained_tiny(data_dir: str, every: int = 1):
    """(Model, sounds): a 2-level, 8-code codec trained for a second on every `every`-th usable file
    of `data_dir`, with seed 0."""
    from engine.codec.model import Model
    from engine.codec.train import train_codec

    torch.set_num_threads(1)
    cfg = Config().with_overrides(TINY)
    used, skipped = load_usable(str(Path(data_dir)), cfg.audio.sample_rate, cfg.audio.min_duration_s, quiet=True)
    used = used[::every]
    return Model(train_codec(used, skipped, cfg).bundle), used


def test_the_tiny_model_is_healthy_enough_to_edit(dev_sets):
    model, sounds = trained_tiny(str(dev_sets / "dev-tiny-5"))
    assert model.config.codec.levels == 2 and len(sounds) == 5
    assert len({int(c) for s in sounds for c in model.encode(s).indices[0]}) >= 3  # level 0 is not collapsed
