"""Shared fixtures: the test audio sets (real files the project builds itself, tools/make_test_audio)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # 2-core machines: one thread is steadier and often faster for tiny models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dev_sets() -> Path:
    """Folder holding dev-tiny-5/, dev-small-30/, dev-mixed-120/ and their manifests, built (or checked
    and kept) by the project's own builder; `./run test` has built them before pytest starts."""
    from tools.testaudio import ensure_sets
    try:
        return ensure_sets(log=lambda line: None)
    except RuntimeError as error:  # missing Debian packages: say how to get them
        pytest.fail(str(error))

TINY_OVERRIDES = [
    "audio.sample_rate=16000", "audio.n_fft=512", "audio.hop_length=128", "audio.n_mels=32",
    "audio.chunk_frames=32", "codec.hidden_channels=32", "codec.latent_dim=16", "codec.levels=2",
    "codec.codebook_size=8", "codec.codebook_dim=8", "train.max_epochs=6", "train.batch_size=8",
    "train.threads=1", "prior.layers=1", "prior.dim=32", "prior.heads=2",
]


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    """`--set` values for a tiny config (what `tiny_config` is), for CLI tests."""
    return list(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_config():
    """A config small enough to train in a few seconds (16 kHz, 32 mels, 2 levels x 8 codes)."""
    from engine.config import Config
    return Config().with_overrides(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_model_path(dev_sets, tiny_config, tmp_path_factory) -> Path:
    """A tiny codec-only model trained on dev-tiny-5, saved as a .distill file (shared, read-only)."""
    from engine.bundle import save_bundle
    from engine.codec.train import train_codec
    from engine.signal.audio import scan_folder
    used, skipped = scan_folder(dev_sets / "dev-tiny-5", tiny_config.audio.sample_rate)
    result = train_codec(used, skipped, tiny_config)
    return save_bundle(tmp_path_factory.mktemp("tiny") / "tiny.distill", result.bundle)
