#!/usr/bin/env python3
"""Phase reconstruction quality: the shipped method (PGHI) against fast Griffin-Lim 32/64/128.

Every method gets the same input: the log-mel of a real file (no codec in between, so only phase
reconstruction is measured). Per method, averaged over files:
    spectral_convergence  || |STFT(y)| - |STFT(x)| || / || |STFT(x)| ||  against the original x
    target_convergence    the same against the magnitude the mel implies (what every method aims at)
    lsd_db                log-spectral distance to the original, dB (RMS over bins, mean over frames)
    mel_l1                mean |mel(y) - mel(x)|, normalised-dB units (0..1)
    ms_per_audio_s        one core
Lower is better everywhere. `tools/eval --phase` calls `evaluate_phase(model, audios)`; run alone:
    tools/eval_phase.py [DATA_DIR] [--files 12] [--seconds 3] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import AudioConfig  # noqa: E402
from engine.signal.audio import Audio, scan_folder  # noqa: E402
from engine.signal.griffin_lim import griffin_lim
from engine.signal.mel import Mel, analysis_window, mel_spectrogram, mel_to_magnitude  # noqa: E402
from engine.signal.pghi import integrate_phase, log_magnitude, pghi_griffin_lim
from engine.signal.stft import frames_envelope, n_samples_for, overlap_add, single_thread_blas, stft
from engine.signal.stream import pghi

SHIPPED = "pghi"


def chunked_refinement(mel: Mel, cfg: AudioConfig, chunk_frames: int = 8, lookahead_frames: int = 3,
                       n_iter: int = 2, momentum: float = 0.99) -> Audio:
    """A candidate, not shipped: real-time iterative inversion with look-ahead (RTISI-LA-like).
    PGHI phases, then per fixed chunk of frames a few fast-GL iterations over the chunk plus its
    look-ahead with all earlier frames frozen; the chunk is committed. Streams (fixed chunk grid),
    but costs ~3x PGHI and makes each edit re-refine several chunks (docs/decode.md)."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    window, scale = analysis_window(n_fft).astype(np.float64), float(analysis_window(n_fft).sum() / 2)
    magnitude = mel_to_magnitude(mel.values, cfg)[None]  # [1, K, F]
    logm = log_magnitude(magnitude, cfg)
    angles = np.exp(1j * integrate_phase(magnitude, logm, logm[..., 0], logm[..., -1], None, None, cfg)[0])
    magnitude = magnitude[0].astype(np.float64)
    n_frames = magnitude.shape[1]
    committed = np.zeros((n_frames - 1) * hop + n_fft)
    alpha = momentum / (1 + momentum)

    def frames(a: int, b: int, unit: np.ndarray) -> np.ndarray:
        spectrum = (magnitude[:, a:b] * unit).T * scale
        return (np.fft.irfft(spectrum, n=n_fft, axis=-1) * window).astype(np.float32)

    for a in range(0, n_frames, chunk_frames):
        b, e = min(a + chunk_frames, n_frames), min(a + chunk_frames + lookahead_frames, n_frames)
        lo, hi = a * hop, (e - 1) * hop + n_fft
        envelope = frames_envelope(lo, hi, e, cfg)  # only frames < e exist yet
        unit, previous = angles[:, a:e], np.zeros_like(angles[:, a:e])
        for _ in range(n_iter):
            segment = (committed[lo:hi] + overlap_add(frames(a, e, unit), cfg)) / envelope
            views = np.lib.stride_tricks.sliding_window_view(segment, n_fft)[::hop][: e - a]
            rebuilt = np.fft.rfft(views * window, axis=-1).T / scale
            unit = rebuilt - alpha * previous
            unit /= np.abs(unit) + 1e-16
            previous = rebuilt
        angles[:, a:e] = unit
        committed[lo: (b - 1) * hop + n_fft] += overlap_add(frames(a, b, unit[:, : b - a]), cfg)
    half = n_fft // 2
    samples = committed / frames_envelope(0, len(committed), n_frames, cfg)
    return Audio(samples[half: half + n_samples_for(n_frames, hop)].astype(np.float32), cfg.sample_rate)


def methods() -> dict[str, Callable[[Mel, AudioConfig], Audio]]:
    return {
        SHIPPED: pghi,
        "chunked-gl2 (candidate)": chunked_refinement,
        "pghi+gl8": lambda mel, cfg: pghi_griffin_lim(mel, cfg, n_iter=8),
        "gl32": lambda mel, cfg: griffin_lim(mel, cfg, n_iter=32),
        "gl64": lambda mel, cfg: griffin_lim(mel, cfg, n_iter=64),
        "gl128": lambda mel, cfg: griffin_lim(mel, cfg, n_iter=128),
    }


def _scores(rebuilt: np.ndarray, original: np.ndarray, mel: Mel, cfg: AudioConfig) -> dict[str, float]:
    n_frames = mel.n_frames
    truth = np.abs(stft(original, n_frames, cfg))
    target = mel_to_magnitude(mel.values, cfg)
    got = np.abs(stft(rebuilt, n_frames, cfg))
    floor = 1e-5  # -100 dB, the mel floor
    lsd = np.sqrt(np.mean((20 * np.log10(got + floor) - 20 * np.log10(truth + floor)) ** 2, axis=0)).mean()
    mel_back = mel_spectrogram(Audio(rebuilt.astype(np.float32), cfg.sample_rate), cfg).values[:, :n_frames]
    return {
        "spectral_convergence": float(np.linalg.norm(got - truth) / np.linalg.norm(truth)),
        "target_convergence": float(np.linalg.norm(got - target) / np.linalg.norm(target)),
        "lsd_db": float(lsd),
        "mel_l1": float(np.abs(mel_back - mel.values[:, : mel_back.shape[1]]).mean()),
    }


def evaluate(audios: list[Audio], cfg: AudioConfig, names: list[str] | None = None,
             mel_of: Callable[[Audio], Mel] | None = None) -> dict:
    """Scores each phase method on `audios` (mono at cfg.sample_rate), rebuilding from each file's
    own mel, or from `mel_of(audio)` (e.g. the codec's decoded mel; scores stay against the
    original audio). Returns {"shipped", "methods": {name: {metric: mean}}, "files", "audio_s"}."""
    single_thread_blas()
    table = {name: fn for name, fn in methods().items() if names is None or name in names}
    sums: dict[str, dict[str, float]] = {name: {} for name in table}
    audio_s = 0.0
    for audio in audios:
        mel = mel_spectrogram(audio, cfg)
        if mel_of is not None:
            mel = Mel(np.ascontiguousarray(mel_of(audio).values[:, : mel.n_frames]), mel.frame_rate_hz)
        audio_s += audio.duration_s
        for name, method in table.items():
            started = time.perf_counter()
            rebuilt = method(mel, cfg).samples
            took = time.perf_counter() - started
            row = _scores(rebuilt, audio.samples, mel, cfg)
            row["ms"] = took * 1e3
            for key, value in row.items():
                sums[name][key] = sums[name].get(key, 0.0) + value
    out = {}
    for name, total in sums.items():
        out[name] = {k: round(v / len(audios), 4) for k, v in total.items() if k != "ms"}
        out[name]["ms_per_audio_s"] = round(total["ms"] / audio_s, 2)
    return {"shipped": SHIPPED, "methods": out, "files": len(audios), "audio_s": round(audio_s, 2)}


def evaluate_phase(model, audios: list[Audio], max_files: int = 6, max_seconds: float = 3.0) -> dict:
    """What `tools/eval --phase` reports for a trained model on held-out files: the comparison on
    the codec's decoded mel (the product's path) and on the files' own mel (phase alone)."""
    cfg = model.config.audio
    step = max(len(audios) // max(max_files, 1), 1)
    picked = [Audio(a.samples[: int(max_seconds * cfg.sample_rate)].copy(), a.sample_rate, a.source)
              for a in audios[::step][:max_files]]
    return {"codec_mel": evaluate(picked, cfg, mel_of=lambda a: model.decode(model.encode(a))),
            "audio_mel": evaluate(picked, cfg)}


def held_out(data_dir: Path, cfg: AudioConfig, files: int, seconds: float) -> list[Audio]:
    """Every k-th usable file (spread over the set), each cut to `seconds`."""
    used, _ = scan_folder(data_dir, cfg.sample_rate, cfg.min_duration_s)
    step = max(len(used) // max(files, 1), 1)
    picked = used[::step][:files]
    return [Audio(a.samples[: int(seconds * cfg.sample_rate)].copy(), a.sample_rate, a.source) for a in picked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, help="default: the test audio's dev-mixed-120")
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    cfg = AudioConfig()
    if args.data_dir is None:
        from tools.testaudio import ensure_sets
        args.data_dir = ensure_sets() / "dev-mixed-120"
    result = evaluate(held_out(args.data_dir, cfg, args.files, args.seconds), cfg)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
