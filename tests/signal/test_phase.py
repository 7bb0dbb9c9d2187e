"""Phase reconstruction: framing matches the mel front end, Griffin-Lim converges."""
from __future__ import annotations

import numpy as np
import pytest

from engine.config import AudioConfig
from engine.signal.audio import Audio
from engine.signal.griffin_lim import griffin_lim
from engine.signal.mel import Mel, mel_spectrogram, mel_to_magnitude, stft_magnitude
from engine.signal.stft import istft, n_samples_for, stft

CFG = AudioConfig(sample_rate=16_000, n_fft=512, hop_length=128, n_mels=64, f_max_hz=8000.0)


def _tone(duration_s: float = 0.5, cfg: AudioConfig = CFG) -> Audio:
    t = np.arange(int(duration_s * cfg.sample_rate)) / cfg.sample_rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t) + 0.2 * np.sin(2 * np.pi * 1210 * t + 0.3)
    return Audio(x.astype(np.float32), cfg.sample_rate)


def _spectral_convergence(samples: np.ndarray, mel: Mel, cfg: AudioConfig) -> float:
    target = mel_to_magnitude(mel.values, cfg)
    got = np.abs(stft(samples, mel.n_frames, cfg))
    return float(np.linalg.norm(got - target) / np.linalg.norm(target))


def test_stft_matches_mel_front_end_and_inverts() -> None:
    audio = _tone()
    n_frames = len(audio.samples) // CFG.hop_length + 1
    half = CFG.n_fft // 2
    reference = stft_magnitude(np.pad(audio.samples, (half, half + CFG.hop_length)), n_frames, CFG)
    spectrum = stft(audio.samples, n_frames, CFG)
    np.testing.assert_allclose(np.abs(spectrum), reference, atol=1e-6)
    back = istft(spectrum, CFG)
    assert len(back) == n_samples_for(n_frames, CFG.hop_length)
    np.testing.assert_allclose(back, audio.samples[: len(back)], atol=1e-5)


def test_griffin_lim_length_determinism_and_convergence() -> None:
    mel = mel_spectrogram(_tone(), CFG)
    out = griffin_lim(mel, CFG, n_iter=16, seed=3)
    assert out.sample_rate == CFG.sample_rate
    assert len(out.samples) == n_samples_for(mel.n_frames, CFG.hop_length)
    assert mel_spectrogram(out, CFG).n_frames == mel.n_frames
    np.testing.assert_array_equal(out.samples, griffin_lim(mel, CFG, n_iter=16, seed=3).samples)
    sc_random = _spectral_convergence(griffin_lim(mel, CFG, n_iter=0).samples, mel, CFG)
    sc_16 = _spectral_convergence(out.samples, mel, CFG)
    assert sc_16 < 0.6 * sc_random, (sc_16, sc_random)
    loud = mel.values > 0.5  # the -100 dB floor region is noise-limited for any method
    err_16 = np.abs(mel_spectrogram(out, CFG).values - mel.values)[loud].mean()
    err_0 = np.abs(mel_spectrogram(griffin_lim(mel, CFG, n_iter=0), CFG).values - mel.values)[loud].mean()
    # (the pseudo-inverse magnitude itself is ~0.03 off in mel: GL cannot beat that)
    assert err_16 < 0.06 and err_16 < 0.6 * err_0, (err_16, err_0)


@pytest.mark.parametrize("n_frames", [1, 2, 5])
def test_griffin_lim_tiny_inputs(n_frames: int) -> None:
    mel = Mel(np.full((CFG.n_mels, n_frames), 0.5, dtype=np.float32), CFG.frame_rate_hz)
    out = griffin_lim(mel, CFG, n_iter=4)
    assert len(out.samples) == n_samples_for(n_frames, CFG.hop_length)
    assert np.all(np.isfinite(out.samples))


def test_eval_phase_tool_scores_every_method() -> None:
    """tools/eval_phase.py (what `tools/eval --phase` calls) on a short synthetic file."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "tools" / "eval_phase.py"
    spec = importlib.util.spec_from_file_location("eval_phase", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    result = tool.evaluate([_tone(0.3)], CFG, names=["pghi", "gl32"])
    assert result["shipped"] == "pghi" and set(result["methods"]) == {"pghi", "gl32"}
    for row in result["methods"].values():
        assert set(row) == {"spectral_convergence", "target_convergence", "lsd_db", "mel_l1", "ms_per_audio_s"}
        assert 0 < row["target_convergence"] < 0.6


def test_single_thread_blas_limits_numpy_blas_on_any_platform():
    from threadpoolctl import threadpool_info, threadpool_limits

    from engine.signal.stft import single_thread_blas
    threadpool_limits(limits=2, user_api="blas")  # so the check below can fail
    assert single_thread_blas()
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas and all(lib["num_threads"] == 1 for lib in blas)


def test_phase_skips_the_bins_above_f_max_without_changing_a_sample(monkeypatch) -> None:
    """PGHI leaves out the bins the mel cannot reach (exactly 0 there): the audio is bit-identical
    to integrating and synthesising every bin, and a magnitude with energy up there keeps them all."""
    from engine.signal import pghi
    from engine.signal.stream import pghi_samples
    cfg = AudioConfig(sample_rate=16_000, n_fft=512, hop_length=128, n_mels=64, f_max_hz=6000.0)
    mel = mel_spectrogram(_tone(0.5, cfg), cfg)
    n_bins = cfg.n_fft // 2 + 1
    assert pghi._mel_bins(cfg) < n_bins * 0.8  # the skip happens here
    fast = pghi_samples(mel.values, cfg)
    monkeypatch.setattr(pghi, "_mel_bins", lambda c: c.n_fft // 2 + 1)
    np.testing.assert_array_equal(fast, pghi_samples(mel.values, cfg))
    monkeypatch.undo()
    assert pghi._live_bins(np.ones((1, n_bins, 3), np.float32), cfg) == n_bins
