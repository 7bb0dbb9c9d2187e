"""Descriptors on signals with known answers; code labels measured in context on a tiny real model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tests.edit.test_edits_fixtures import trained_tiny

from engine.bundle import load_bundle, save_bundle
from engine.codec.model import Model
from engine.config import AudioConfig
from engine.edit.descriptors import DESCRIPTORS, batch_region_descriptors, region_descriptors
from engine.edit.labels import (FAMILIES, code_label, compute_labels, descriptor_table, label_bundle, model_labels,
                           name_codes)
from engine.errors import InputError
from engine.signal.audio import Audio
from engine.signal.mel import mel_spectrogram

CFG = AudioConfig()
RATE = CFG.sample_rate


def mel_of(samples: np.ndarray) -> np.ndarray:
    return mel_spectrogram(Audio(samples.astype(np.float32), RATE), CFG).values


def signal(kind: str, gain: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(RATE) / RATE
    noise = np.random.default_rng(seed).normal(size=RATE + 1)
    return gain * {
        "sine": np.sin(2 * np.pi * 220 * t),
        "noise": noise[:RATE],
        "bright_noise": np.diff(noise),
        "dark_noise": np.convolve(noise[:RATE], np.ones(24) / 24, "same") * 4,
        "clicks": (np.arange(RATE) % (RATE // 8) < 200) * noise[:RATE],
        "steady": noise[:RATE] * 0.5,
    }[kind]


def desc(kind: str, **kw) -> dict:
    return region_descriptors(mel_of(signal(kind, **kw)), CFG, 10, 80)


def test_descriptors_order_known_signals():
    assert desc("bright_noise")["centroid_hz"] > desc("noise")["centroid_hz"] > desc("dark_noise")["centroid_hz"]
    assert abs(desc("sine")["centroid_hz"] - 220) < 20
    assert desc("noise", gain=0.3)["rms_db"] - desc("noise", gain=0.03)["rms_db"] == pytest.approx(20, abs=0.5)
    assert desc("sine", gain=1.0)["rms_db"] == pytest.approx(0.0, abs=1.5)  # 0 dB = a full-scale sine
    assert desc("noise")["flatness"] > 20 * desc("sine")["flatness"]
    assert desc("sine")["pitch_salience"] > 0.8 > 0.2 > desc("noise")["pitch_salience"]
    assert desc("clicks")["onset_strength"] > 5 * desc("steady")["onset_strength"]
    assert desc("sine")["bandwidth_hz"] < 100 < desc("noise")["bandwidth_hz"]
    # flatness does not follow loudness (the floor is relative to each spectrum's peak)
    assert desc("noise", gain=0.03)["flatness"] == pytest.approx(desc("noise", gain=0.3)["flatness"], rel=0.05)


def test_batch_equals_one_by_one():
    mels = np.stack([mel_of(signal(k)) for k in ("sine", "noise", "clicks")])
    batch = batch_region_descriptors(mels, CFG, 5, 40)
    for i, m in enumerate(mels):
        single = region_descriptors(m, CFG, 5, 40)
        for name in DESCRIPTORS:
            assert batch[name][i] == pytest.approx(single[name], rel=1e-5, abs=1e-9)  # float32 matrix products
    with pytest.raises(ValueError):
        region_descriptors(mels[0], CFG, 40, 40)


def test_names_follow_ranks_within_the_level():
    values = np.zeros((4, len(DESCRIPTORS)))
    values[:, DESCRIPTORS.index("centroid_hz")] = [100.0, 200.0, 300.0, 5000.0]
    values[:, DESCRIPTORS.index("flatness")] = [0.9, 0.1, 0.1, 0.1]
    names, traits, families = name_codes(values)
    assert names[3] == "bright" and names[0] in ("noisy", "dark") and "dark" in traits[0]
    assert [FAMILIES[f][0] for f in families] == names
    flat = name_codes(np.ones((4, len(DESCRIPTORS))))[0]
    assert flat == ["plain"] * 4  # no spread: no trait


@pytest.fixture(scope="module")
def tiny(dev_sets):
    """A tiny codec trained for a second on dev-tiny-5, and its training sounds."""
    return trained_tiny(str(dev_sets / "dev-tiny-5"))


def test_labels_cover_every_code_and_are_json(tiny):
    model, sounds = tiny
    labels = compute_labels(model, audios=sounds)
    q, k = model.config.codec.levels, model.config.codec.codebook_size
    assert len(labels["levels"]) == q
    assert json.loads(json.dumps(labels)) == labels
    allowed = {name for name, _ in FAMILIES}
    for level in labels["levels"]:
        assert len(level["names"]) == len(level["families"]) == k
        assert set(level["names"]) <= allowed
        for d in DESCRIPTORS:
            assert len(level["descriptors"][d]) == k and np.all(np.isfinite(level["descriptors"][d]))
    table = descriptor_table(labels)
    assert table.shape == (q, k, len(DESCRIPTORS))
    # codes differ: level 0 spans a range of brightness and level (tonal sounds, a tiny codec)
    assert np.ptp(table[0, :, DESCRIPTORS.index("centroid_hz")]) > 10
    assert np.ptp(table[0, :, DESCRIPTORS.index("rms_db")]) > 3
    entry = code_label(labels, 0, 3)
    assert entry["family_name"] == FAMILIES[entry["family"]][0] and entry["colour"].startswith("#")
    with pytest.raises(InputError):
        code_label(labels, q, 0)


def test_labels_are_measured_in_context(tiny):
    model, sounds = tiny
    labels = compute_labels(model, audios=sounds)
    windows = np.asarray(labels["context"]["windows"])
    assert windows.shape[1] == model.config.codec.levels
    # the contexts are real encoded frames of the training sounds, not constant grids
    grids = [model.encode(a).indices for a in sounds]
    assert any(len(np.unique(w[0])) > 1 for w in windows)
    assert all(any(_contains(g, w) for g in grids) for w in windows)
    # other contexts give other measurements: the context matters
    silent = np.zeros_like(windows)
    other = compute_labels(model, windows=silent)
    assert not np.allclose(descriptor_table(other), descriptor_table(labels))


def _contains(grid: np.ndarray, window: np.ndarray) -> bool:
    w = window.shape[1]
    return any(np.array_equal(grid[:, s:s + w], window) for s in range(max(1, grid.shape[1] - w + 1)))


def test_label_bundle_round_trip_and_export_without_data(tiny, tmp_path):
    model, sounds = tiny
    bundle = label_bundle(model, audios=sounds)
    path = save_bundle(tmp_path / "m.distill", bundle)
    reloaded = Model.load(path)
    assert reloaded.model_id == model.model_id  # labels do not change the model's identity
    assert model_labels(reloaded) == bundle.meta["labels"]
    # export recomputes from the stored contexts, without the training sounds: same labels
    again = label_bundle(reloaded)
    assert again.meta["labels"] == bundle.meta["labels"]
    assert load_bundle(path).meta["labels"]["model_id"] == model.model_id


def test_labels_of_other_weights_are_ignored_and_missing_context_is_an_error(tiny):
    model, sounds = tiny
    assert model_labels(model) is None
    with pytest.raises(InputError, match="no stored label contexts"):
        label_bundle(model)
    foreign = dict(compute_labels(model, audios=sounds[:1]), model_id="someone-else")
    original = model.bundle
    model.bundle = original.with_meta(labels=foreign)
    try:
        assert model_labels(model) is None
    finally:
        model.bundle = original  # the model is shared with other tests
