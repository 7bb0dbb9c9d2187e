#!/usr/bin/env python3
"""Which part of a model's mel error costs what a listener hears: ViSQOL MOS-LQO of the true mel
with the model's error put back in one region only (issue 12's diagnosis, docs/quality.md).

Usage: tools/eval_error_regions.py MODEL DATA_DIR [--clips N] [--json]

Each variant is the clip's true mel with the model's reconstruction copied into one region, then
rendered through the offline phase method and scored against the clip like `distill eval
--quality` scores its variants (same clips, same ViSQOL):
- `distill`, `oracle_mel`: all of the error, none of it;
- `error_loud_bins` / `error_quiet_bins`: only in the bins within LOUD_RANGE_DB of their frame's
  peak / only in the others;
- `error_low_bands`, `error_mid_bands`, `error_high_bands`: mel bands 0-1/4, 1/4-1/2, 1/2-1;
- `half_error`: all of it at half size;
- `noise_same_l1`: no model error but Gaussian noise of the same mean absolute size (is it the
  error's size or its shape?);
- `oracle_blur3_time`, `oracle_blur3_freq`: the true mel smoothed over 3 frames / 3 bands.
The figures next to them: mean absolute error (normalised log-mel: 0.01 = 1 dB) in the loud and
quiet bins and the share of loud bins.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.cli.common import load_usable  # noqa: E402
from engine.codec.evaluate import split_for_quality  # noqa: E402
from engine.codec.model import Model  # noqa: E402
from engine.signal.mel import mel_spectrogram  # noqa: E402
from engine.workflow.quality import Visqol, clips_of, fit, offline_render  # noqa: E402

LOUD_RANGE_DB = 25.0


def variants(true: np.ndarray, decoded: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The mels to score. # [M, F] each"""
    bands = true.shape[0]
    quiet = true < true.max(axis=0, keepdims=True) - LOUD_RANGE_DB / 100.0
    low, mid = slice(0, bands // 4), slice(bands // 4, bands // 2)
    def only(region):
        out = true.copy()
        out[region] = decoded[region]
        return out
    l1 = float(np.abs(decoded - true).mean())
    return {"distill": decoded, "oracle_mel": true,
            "error_loud_bins": np.where(quiet, true, decoded), "error_quiet_bins": np.where(quiet, decoded, true),
            "error_low_bands": only(low), "error_mid_bands": only(mid), "error_high_bands": only(slice(bands // 2, None)),
            "half_error": true + 0.5 * (decoded - true),
            "noise_same_l1": true + rng.standard_normal(true.shape) * l1 * np.sqrt(np.pi / 2),
            "oracle_blur3_time": uniform_filter1d(true, 3, axis=1, mode="nearest"),
            "oracle_blur3_freq": uniform_filter1d(true, 3, axis=0, mode="nearest")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data_dir")
    parser.add_argument("--clips", type=int, default=4, help="clips of 6 s per split (default 4)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = Model.load(args.model)
    cfg = model.config.audio
    used, _ = load_usable(args.data_dir, cfg.sample_rate, cfg.min_duration_s, quiet=True)
    train, held, _ = split_for_quality(model, used, None)
    visqol, rng, report = Visqol(), np.random.default_rng(0), {}
    for split, audios in (("train", train), ("heldout", held)):
        scores: dict[str, list[float]] = {}
        for clip in clips_of(audios, 6.0, args.clips):
            mel = mel_spectrogram(clip, cfg)
            true = mel.values
            decoded = model.decode(model.encode_mel(mel)).values[:, : true.shape[1]]
            error = np.abs(decoded - true)
            loud = true >= true.max(axis=0, keepdims=True) - LOUD_RANGE_DB / 100.0
            for name, values in variants(true, decoded, rng).items():
                samples = offline_render(np.maximum(values, 0.0).astype(np.float32), cfg)
                scores.setdefault(name, []).append(visqol.mos(clip.samples, fit(samples, len(clip.samples)), cfg.sample_rate))
            scores.setdefault("loud_share", []).append(float(loud.mean()))
            scores.setdefault("loud_bins_l1", []).append(float(error[loud].mean()))
            scores.setdefault("quiet_bins_l1", []).append(float(error[~loud].mean()))
        report[split] = {k: round(float(np.mean(v)), 4) for k, v in scores.items()} if scores else None
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for split, row in report.items():
            print(split, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
