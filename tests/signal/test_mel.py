"""Mel front end: fixed dB reference, chunk-by-chunk equals whole clip."""
import numpy as np
import pytest

from engine.config import AudioConfig
from engine.signal.audio import Audio, load_audio
from engine.signal.mel import mel_chunked, mel_spectrogram, mel_to_magnitude, magnitude_to_mel


@pytest.mark.parametrize("chunk_frames", [1, 7, 96, 1000])
def test_chunked_mel_equals_whole_clip(dev_sets, chunk_frames):
    cfg = AudioConfig()
    path = sorted((dev_sets / "dev-tiny-5").iterdir())[0]
    audio = load_audio(path, cfg.sample_rate)
    whole = mel_spectrogram(audio, cfg).values
    chunked = mel_chunked(audio, cfg, chunk_frames).values
    assert whole.shape == chunked.shape == (cfg.n_mels, len(audio.samples) // cfg.hop_length + 1)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_reference_is_fixed_not_per_clip():
    cfg = AudioConfig()
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(cfg.sample_rate) / cfg.sample_rate)).astype(np.float32)
    loud = mel_spectrogram(Audio(x, cfg.sample_rate), cfg).values
    quiet = mel_spectrogram(Audio(x * 0.5, cfg.sample_rate), cfg).values
    peak = np.unravel_index(loud.argmax(), loud.shape)
    # Half the amplitude is 6.02 dB lower: a per-clip reference would hide that.
    assert loud[peak] - quiet[peak] == pytest.approx(6.0206 / -cfg.min_db, abs=1e-4)


def test_mel_magnitude_round_trip_is_close():
    cfg = AudioConfig(sample_rate=16_000, n_fft=512, hop_length=128, n_mels=64, f_max_hz=8_000)
    rng = np.random.default_rng(0)
    mel = mel_spectrogram(Audio(rng.standard_normal(16_000).astype(np.float32) * 0.1, 16_000), cfg).values
    again = magnitude_to_mel(mel_to_magnitude(mel, cfg), cfg)
    assert np.abs(again - mel).mean() < 0.02
