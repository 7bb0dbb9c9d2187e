"""Sounds the project synthesises itself for the demo model: plucks, bells, hits, noise textures.

No downloads and no randomness beyond the seed: the same seed writes byte-identical WAVs.
Usage: python -m engine.cli.demo_sounds OUT_DIR [--seed N] [--count-per-kind N]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.signal.audio import save_audio

SAMPLE_RATE = 48_000


def pluck(rng: np.random.Generator, duration_s: float = 1.5) -> np.ndarray:
    """Karplus-Strong string with a random pitch and brightness."""
    f0 = rng.choice([82.4, 110.0, 146.8, 196.0, 246.9, 329.6, 440.0]) * rng.uniform(0.98, 1.02)
    period = int(SAMPLE_RATE / f0)
    n = int(duration_s * SAMPLE_RATE)
    buf = rng.uniform(-1, 1, period)
    damping = rng.uniform(0.990, 0.998)
    out = np.empty(n)
    for i in range(n):  # the loop is the algorithm: each sample averages the last period
        out[i] = buf[i % period]
        buf[i % period] = damping * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out


def bell(rng: np.random.Generator, duration_s: float = 2.0) -> np.ndarray:
    """Inharmonic partials with independent decays (a struck metal bar)."""
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = rng.uniform(200, 900)
    out = np.zeros_like(t)
    for ratio, amp in zip((1.0, 2.756, 5.404, 8.933, 13.34), (1.0, 0.6, 0.4, 0.25, 0.15)):
        decay = rng.uniform(1.5, 4.0) * ratio ** 0.5
        out += amp * np.sin(2 * np.pi * f0 * ratio * t + rng.uniform(0, 2 * np.pi)) * np.exp(-decay * t)
    return out


def hit(rng: np.random.Generator, duration_s: float = 0.8) -> np.ndarray:
    """A drum-like hit: a pitch-swept sine body plus a filtered noise burst."""
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    f_start, f_end = rng.uniform(120, 300), rng.uniform(40, 90)
    phase = 2 * np.pi * np.cumsum(f_end + (f_start - f_end) * np.exp(-t * 30)) / SAMPLE_RATE
    body = np.sin(phase) * np.exp(-t * rng.uniform(6, 15))
    noise = _one_pole(rng.standard_normal(len(t)), rng.uniform(0.05, 0.9)) * np.exp(-t * rng.uniform(20, 60))
    return rng.uniform(0.3, 1.0) * body + rng.uniform(0.2, 1.0) * noise


def texture(rng: np.random.Generator, duration_s: float = 2.5) -> np.ndarray:
    """Filtered noise with a slow amplitude and colour movement (wind, surf, hiss)."""
    n = int(duration_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    coloured = _one_pole(rng.standard_normal(n), rng.uniform(0.02, 0.6))
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6))
    fade = np.minimum(1.0, np.minimum(t / 0.2, (duration_s - t) / 0.3))
    return coloured * swell * fade


def _one_pole(x: np.ndarray, coefficient: float) -> np.ndarray:
    """y[n] = a x[n] + (1 - a) y[n-1]: a smaller a is darker."""
    y = np.empty_like(x)
    acc = 0.0
    for i, v in enumerate(x):
        acc = coefficient * v + (1 - coefficient) * acc
        y[i] = acc
    return y


KINDS = {"pluck": pluck, "bell": bell, "hit": hit, "texture": texture}


def write_demo_sounds(out_dir: Path, seed: int = 0, count_per_kind: int = 6) -> list[Path]:
    """Writes count_per_kind files of each kind as 24-bit WAV, peak-normalised to -3 dBFS."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, make in KINDS.items():
        for i in range(count_per_kind):
            x = make(rng)
            x = (x / (np.abs(x).max() + 1e-9) * 10 ** (-3 / 20)).astype(np.float32)
            paths.append(save_audio(out_dir / f"{kind}-{i + 1:02d}.wav", x, SAMPLE_RATE, bit_depth=24))
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count-per-kind", type=int, default=6)
    args = parser.parse_args()
    for p in write_demo_sounds(args.out_dir, args.seed, args.count_per_kind):
        print(p)
