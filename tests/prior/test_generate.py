"""Generation: reproducibility, continuation, region regeneration, progress/cancel, no seams."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.config import PriorConfig
from engine.errors import InputError
from engine.prior.generate import (GenerationCancelled, continue_codes, frames_for_seconds, generate,
                             regenerate_region)
from engine.prior.network import Prior
from engine.prior.sampling import Sampling
from engine.prior.train import train_prior

Q, K, WINDOW = 3, 12, 16


def drift_files(n_files: int, seed: int) -> list[np.ndarray]:
    """Sounds that start at code 0 (an onset) and drift slowly upwards: a seam that restarts
    the context shows as a jump back to 0, something the model only does at a new sound."""
    rng = np.random.default_rng(seed)
    files = []
    for _ in range(n_files):
        frames = int(rng.integers(40, 90))
        level0 = np.minimum(np.cumsum(rng.random(frames) < 0.12), K - 1)
        finer = [(level0 * (q + 2) + (rng.random(frames) < 0.1) * rng.integers(0, K, frames)) % K
                 for q in range(1, Q)]
        files.append(np.stack([level0, *finer]).astype(np.int64))
    return files


@pytest.fixture(scope="module")
def prior() -> Prior:
    cfg = PriorConfig(layers=1, dim=32, heads=2, dropout=0.1, token_corruption=0.05, context_frames=WINDOW,
                      crop_frames=WINDOW, batch_size=16, eval_every_steps=40, patience_steps=10_000,
                      max_steps=160)
    result = train_prior(drift_files(24, 0), drift_files(4, 1), K, cfg, seed=0, max_seconds=600)  # a cap, not a target
    return Prior.from_tensors(result.tensors)


def test_same_seed_same_output_different_seeds_differ(prior):
    a = generate(prior, 60, Sampling(), seed=3)
    assert a.shape == (Q, 60) and a.dtype == np.int64 and a.min() >= 0 and a.max() < K
    np.testing.assert_array_equal(generate(prior, 60, Sampling(), seed=3), a)
    assert not np.array_equal(generate(prior, 60, Sampling(), seed=4), a)


def test_sampling_settings_change_the_output_and_focus_one_is_greedy(prior):
    greedy = generate(prior, 40, Sampling(top_k=1), seed=1)
    np.testing.assert_array_equal(generate(prior, 40, Sampling(top_k=1), seed=2), greedy)  # no randomness left
    hot = generate(prior, 40, Sampling(temperature=3.0, top_p=1.0), seed=1)
    assert not np.array_equal(hot, greedy)
    # per-level temperature: a near-zero temperature on every level is greedy too, once holds are
    # tempered like the rest (calibrated holds keep the model's own hold probability at any temperature)
    cold = generate(prior, 40, Sampling(level_temperatures=(1e-4,) * Q, top_p=1.0, calibrated_holds=False), seed=9)
    np.testing.assert_array_equal(cold, greedy)


def _change_rate(codes: np.ndarray) -> float:
    return float((np.diff(codes[0]) != 0).mean())


def test_calibrated_holds_keep_the_models_timing_at_low_creativity(prior):
    """Level-0 codes of the training files change at ~12% of frames; tempering the hold decision
    makes low Creativity hold codes for far longer (a drone), calibrated holds keep the rate."""
    seeds = range(6)
    rate = {name: np.mean([_change_rate(generate(prior, 80, s, seed=i)) for i in seeds]) for name, s in {
        "model": Sampling(temperature=1.0, top_p=1.0),
        "calibrated": Sampling(temperature=0.4, top_p=0.9),
        "tempered": Sampling(temperature=0.4, top_p=0.9, calibrated_holds=False)}.items()}
    assert rate["tempered"] < 0.5 * rate["model"]
    assert 0.6 * rate["model"] < rate["calibrated"] < 1.6 * rate["model"]


def test_continuation_keeps_the_clip_and_follows_it(prior):
    clip = drift_files(1, 5)[0][:, :30]
    out = continue_codes(prior, clip, 25, Sampling(top_k=1), seed=0)
    assert out.shape == (Q, 55)
    np.testing.assert_array_equal(out[:, :30], clip)
    other = np.zeros_like(clip)
    assert not np.array_equal(continue_codes(prior, other, 25, Sampling(top_k=1), seed=0)[:, 30:], out[:, 30:])
    long_clip = np.concatenate(drift_files(3, 6), axis=1)  # longer than the window: read by its tail
    assert long_clip.shape[1] > WINDOW
    assert continue_codes(prior, long_clip, 5, seed=0).shape == (Q, long_clip.shape[1] + 5)


def test_region_regeneration_changes_only_the_region_and_unlocked_levels(prior):
    codes = np.concatenate(drift_files(2, 7), axis=1)
    n = codes.shape[1]
    for start, end in ((10, 30), (0, 12), (n - 9, n)):
        changed = np.zeros(n, dtype=bool)
        for seed in range(3):
            out = regenerate_region(prior, codes, start, end, Sampling(temperature=1.5), seed=seed,
                                    locked_levels=(0,))
            np.testing.assert_array_equal(out[:, :start], codes[:, :start])
            np.testing.assert_array_equal(out[:, end:], codes[:, end:])
            np.testing.assert_array_equal(out[0], codes[0])  # the locked level
            changed |= (out[1:] != codes[1:]).any(axis=0)
        assert changed[start:end].any()  # the region really was regenerated
    same = regenerate_region(prior, codes, 5, 20, seed=1)
    np.testing.assert_array_equal(regenerate_region(prior, codes, 5, 20, seed=1), same)


def test_region_arguments_are_checked(prior):
    codes = drift_files(1, 8)[0]
    for start, end in ((5, 5), (-1, 3), (3, codes.shape[1] + 1)):
        with pytest.raises(InputError, match="region"):
            regenerate_region(prior, codes, start, end)
    with pytest.raises(InputError, match="locked levels"):
        regenerate_region(prior, codes, 0, 3, locked_levels=(Q,))
    with pytest.raises(InputError, match="codes must lie"):
        continue_codes(prior, codes + K, 3)


def test_progress_is_reported_and_cancel_stops(prior):
    seen = []
    generate(prior, 20, seed=0, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (20, 20) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    event = threading.Event()
    calls = []

    def cancel_after_some(done, total):
        calls.append(done)
        if done >= 16:
            event.set()

    with pytest.raises(GenerationCancelled):
        generate(prior, 500, seed=0, progress=cancel_after_some, cancel=event)
    assert max(calls) < 30
    with pytest.raises(GenerationCancelled):
        generate(prior, 10, seed=0, cancel=lambda: True)


def change_rate(codes: np.ndarray) -> np.ndarray:
    """Share of levels whose code changes from frame t-1 to t (a code-level spectral flux). # [F-1]"""
    return (codes[:, 1:] != codes[:, :-1]).mean(axis=0)


def test_long_generation_has_no_seam_at_window_joins(prior):
    """Frames where the sliding window has turned over (multiples of the window) change no more
    than other frames. The control, restarting the context at each window, does show seams, so
    the measure can see one."""
    windows, seeds = 12, range(8)
    joins = [t - 1 for t in range(WINDOW, windows * WINDOW, WINDOW)]  # index into change_rate
    ours, restarted = [], []
    for seed in seeds:
        ours.append(change_rate(generate(prior, windows * WINDOW, seed=seed)))
        pieces = [generate(prior, WINDOW, seed=1000 * seed + i) for i in range(windows)]
        restarted.append(change_rate(np.concatenate(pieces, axis=1)))
    ours, restarted = np.stack(ours), np.stack(restarted)  # [S, F-1]
    elsewhere = np.delete(ours, joins, axis=1).mean()
    assert restarted[:, joins].mean() > elsewhere + 0.2  # the control's seams are visible
    assert ours[:, joins].mean() <= elsewhere + 0.1


def test_seconds_are_checked():
    assert frames_for_seconds(10, 46.875) == 469
    for bad in (0, -1, 60.5, float("nan")):
        with pytest.raises(InputError, match="seconds"):
            frames_for_seconds(bad, 46.875)
    for bad in (0, -3, 1.5):
        with pytest.raises(InputError, match="frames"):
            generate(None, bad)  # type: ignore[arg-type]


def spectral_flux(mel: np.ndarray) -> np.ndarray:
    """Bin-wise change from frame to frame, summed over bins (rises and falls: a seam can go
    either way). mel # [M, F] -> # [F-1]"""
    return np.abs(np.diff(mel, axis=1)).sum(axis=0)


def test_decoded_long_generation_has_no_spectral_flux_peak_at_window_joins(prior):
    """The same check on sound: codes decoded by a codec (untrained: any fixed decoder maps a code
    jump to a spectral jump) show no more spectral flux around window joins than elsewhere;
    restarting the context at each window does show it."""
    import torch

    from engine.codec.network import Codec
    from engine.config import AudioConfig, CodecConfig

    torch.manual_seed(0)
    codec = Codec(AudioConfig(n_mels=32), CodecConfig(hidden_channels=16, latent_dim=8, levels=Q, codebook_size=K,
                                                      codebook_dim=4, kmeans_init=False)).eval()
    stride, windows = 2, 12  # CodecConfig.time_stride

    def flux(codes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return spectral_flux(codec.decode_codes(torch.from_numpy(codes)[None])[0].numpy())

    near = np.zeros(windows * WINDOW * stride - 1, dtype=bool)
    for j in range(WINDOW, windows * WINDOW, WINDOW):
        near[j * stride - 2 * stride: j * stride + 2 * stride] = True
    ours, restarted = [], []
    # Tempered holds: this tiny prior's codes then drift slowly, so a restart's jump back stands out
    # (with calibrated holds the codes change as often as in training and the control is weaker).
    sampling = Sampling(calibrated_holds=False)
    for seed in range(6):
        ours.append(flux(generate(prior, windows * WINDOW, sampling, seed=seed)))
        pieces = [generate(prior, WINDOW, sampling, seed=1000 * seed + i) for i in range(windows)]
        restarted.append(flux(np.concatenate(pieces, axis=1)))
    ours, restarted = np.stack(ours), np.stack(restarted)
    elsewhere = ours[:, ~near].mean()
    assert restarted[:, near].mean() > 1.5 * restarted[:, ~near].mean()  # seams show in the flux
    assert ours[:, near].mean() <= 1.25 * elsewhere
