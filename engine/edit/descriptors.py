"""Perceptual descriptors of decoded sound, in numpy: what the editor's labels and moves measure.

All of them work on normalised log-mel frames `[M, F]` (what the decoder outputs), so a label or a
move is judged on the decoded result without phase reconstruction. Linear magnitude comes from the
mel front end's cached pseudo-inverse (`engine.signal.mel.mel_to_magnitude`).

| descriptor       | unit | higher means                                    |
|------------------|------|-------------------------------------------------|
| centroid_hz      | Hz   | brighter (spectral centre of mass)             |
| rms_db           | dB   | louder (mean power, 0 dB = full-scale sine)     |
| bandwidth_hz     | Hz   | wider spread around the centroid                |
| flatness         | 0..1 | noisier (geometric / arithmetic mean of power)  |
| onset_strength   | mel  | punchier (mean positive log-mel flux per frame) |
| spectral_flux    | mel  | less smooth (mean absolute log-mel change per frame: attacks and decays) |
| pitch_salience   | 0..1 | more tonal (peak of the normalised autocorrelation, 50-1000 Hz) |

Region values summarise frames the way a listener would: spectral shape descriptors are taken on
the region's mean power spectrum (silent frames weigh nothing), loudness on its mean power, onset
strength and spectral flux as the mean step (including the step into the region's first frame), pitch salience as the
power-weighted mean of the frames'.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.config import AudioConfig
from engine.signal.mel import mel_to_magnitude

DESCRIPTORS = ("centroid_hz", "rms_db", "bandwidth_hz", "flatness", "onset_strength", "pitch_salience",
               "spectral_flux")
POWER_FLOOR = 1e-10  # -100 dB, the mel front end's floor
PITCH_RANGE_HZ = (50.0, 1000.0)
BATCH = 64  # mels per vectorised chunk: bounds memory (irfft of n_fft per frame)
SINE_POWER = 1.5  # summed bin power of a full-scale sine through the Hann window: its level is 0 dB


@lru_cache(maxsize=8)
def _bin_hz(cfg: AudioConfig) -> np.ndarray:
    return np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)  # [K]


def power_spectrum(mel: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Linear power per FFT bin from normalised log-mel. # [M, F] -> [n_fft//2+1, F]"""
    return mel_to_magnitude(np.asarray(mel, dtype=np.float32), cfg).astype(np.float64) ** 2


def _shape(power: np.ndarray, cfg: AudioConfig) -> dict[str, np.ndarray]:
    """Centroid, bandwidth, flatness of power spectra. # [K, ...] -> each [...]"""
    hz = _bin_hz(cfg).reshape((-1,) + (1,) * (power.ndim - 1))
    total = power.sum(axis=0) + POWER_FLOOR
    centroid = (hz * power).sum(axis=0) / total
    bandwidth = np.sqrt(((hz - centroid) ** 2 * power).sum(axis=0) / total)
    p = power + power.max(axis=0) * 1e-8 + 1e-30  # floor relative to the peak: flatness must not follow loudness
    flatness = np.exp(np.log(p).mean(axis=0)) / p.mean(axis=0)
    return {"centroid_hz": centroid, "bandwidth_hz": bandwidth, "flatness": flatness}


def _salience(power: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Peak of the normalised autocorrelation (Wiener-Khinchin: inverse FFT of power) over lags of
    50-1000 Hz: near 1 for a periodic frame, near 0 for noise. # [K, F] -> [F]"""
    acf = np.fft.irfft(power, n=cfg.n_fft, axis=0)  # [n_fft, F]
    lo = int(cfg.sample_rate / PITCH_RANGE_HZ[1])
    hi = min(int(cfg.sample_rate / PITCH_RANGE_HZ[0]), cfg.n_fft // 2)
    return np.clip(acf[lo:hi].max(axis=0) / (acf[0] + POWER_FLOOR), 0.0, 1.0)


def _flux(mel: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Mean positive step of each frame over the one before it. # [M, F] -> [F]"""
    prev = np.concatenate([mel[:, :1] if previous is None else previous[:, None], mel[:, :-1]], axis=1)
    return np.clip(mel - prev, 0.0, None).mean(axis=0)


def frame_descriptors(mel: np.ndarray, cfg: AudioConfig) -> dict[str, np.ndarray]:
    """Every descriptor per frame. # mel [M, F] -> {name: [F]}"""
    mel = np.asarray(mel, dtype=np.float64)
    power = power_spectrum(mel, cfg)
    out = _shape(power, cfg)
    out["rms_db"] = 10.0 * np.log10(power.sum(axis=0) / SINE_POWER + POWER_FLOOR)
    out["onset_strength"] = _flux(mel, None)
    steps = np.diff(mel, axis=1, prepend=mel[:, :1])
    out["spectral_flux"] = np.abs(steps).mean(axis=0)
    out["pitch_salience"] = _salience(power, cfg)
    return {name: out[name] for name in DESCRIPTORS}


def region_descriptors(mel: np.ndarray, cfg: AudioConfig, start_frame: int = 0, end_frame: int | None = None) -> dict[str, float]:
    """Descriptors of mel frames [start_frame, end_frame) (mel frames, not code frames), summarised
    as the module docstring says. # mel [M, F] -> {name: float}"""
    out = batch_region_descriptors(np.asarray(mel)[None], cfg, start_frame, end_frame)
    return {name: float(v[0]) for name, v in out.items()}


def batch_region_descriptors(mels: np.ndarray, cfg: AudioConfig, start_frame: int = 0,
                             end_frame: int | None = None) -> dict[str, np.ndarray]:
    """`region_descriptors` over a batch of equally long mels, vectorised (one matrix product per
    chunk of the batch: many small products are slow under a multi-threaded BLAS).
    # [B, M, F] -> {name: [B]}"""
    mels = np.asarray(mels, dtype=np.float64)
    end_frame = mels.shape[2] if end_frame is None else end_frame
    if mels.ndim != 3 or not 0 <= start_frame < end_frame <= mels.shape[2]:
        raise ValueError(f"mel region [{start_frame}, {end_frame}) outside {mels.shape[-1]} frames of {mels.shape}")
    parts = [_batch(mels[i:i + BATCH], cfg, start_frame, end_frame) for i in range(0, len(mels), BATCH)]
    return {name: np.concatenate([p[name] for p in parts]) for name in DESCRIPTORS}


def _batch(mels: np.ndarray, cfg: AudioConfig, start: int, end: int) -> dict[str, np.ndarray]:
    b, m, n = mels.shape[0], mels.shape[1], end - start
    region = mels[:, :, start:end]  # [B, M, n]
    flat = region.transpose(1, 0, 2).reshape(m, b * n)  # [M, B*n]
    power = power_spectrum(flat, cfg).reshape(-1, b, n)  # [K, B, n]
    mean_power = power.mean(axis=2)  # [K, B]
    out = _shape(mean_power, cfg)
    out["rms_db"] = 10.0 * np.log10(mean_power.sum(axis=0) / SINE_POWER + POWER_FLOOR)
    prev = mels[:, :, start - 1:start] if start > 0 else region[:, :, :1]  # [B, M, 1]
    steps = np.diff(np.concatenate([prev, region], axis=2), axis=2)  # [B, M, n]
    out["onset_strength"] = np.clip(steps, 0.0, None).mean(axis=(1, 2))
    out["spectral_flux"] = np.abs(steps).mean(axis=(1, 2))
    frame_power = power.sum(axis=0) + POWER_FLOOR  # [B, n]
    salience = _salience(power.reshape(power.shape[0], b * n), cfg).reshape(b, n)
    out["pitch_salience"] = (salience * frame_power).sum(axis=1) / frame_power.sum(axis=1)
    return {name: np.asarray(out[name], dtype=np.float64) for name in DESCRIPTORS}
