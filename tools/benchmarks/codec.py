"""Codec training figures: cost per chunk, and seconds of CPU training to the validation plateau."""
from __future__ import annotations

import os
import time
from pathlib import Path

from tools.testaudio import sets_dir

import numpy as np
import torch

from engine.codec.network import Codec
from engine.codec.train import multires_loss, train_codec, with_resolved_defaults
from engine.config import Config
from engine.signal.audio import scan_folder

DEV_SETS = sets_dir()  # the project's own test audio (tools/make_test_audio builds it)
PLATEAU_TOLERANCE = 0.02  # within 2% of the best validation mel L1


def train_ms_per_chunk() -> dict:
    """One optimiser step on a batch of 16 default-size chunks (96 frames x 128 mels), 2 threads."""
    torch.set_num_threads(2)
    config = with_resolved_defaults(Config(), 30, [])
    codec = Codec(config.audio, config.codec)
    opt = torch.optim.Adam(codec.parameters(), lr=1e-3)
    x = torch.rand(16, config.audio.n_mels, config.audio.chunk_frames)
    codec(x)  # k-means init outside the timing
    times = []
    for _ in range(12):
        started = time.perf_counter()
        out = codec(x)
        loss = (out.mel - x).abs().mean() + multires_loss(out.mel, x) + out.commit_loss.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - started)
    return {"value": 1000 * float(np.median(times[2:])) / 16, "unit": "ms/chunk", "batch": 16, "threads": 2}


def _plateau(set_name: str) -> dict:
    used, skipped = scan_folder(DEV_SETS / set_name, 48_000)
    config = with_resolved_defaults(Config(), len(used), [])
    result = train_codec(used, skipped, config)
    history = [h for h in result.report["history"] if "levels" in h]
    best = min(h["val_mel_l1"] for h in history)
    plateau = next(h for h in history if h["val_mel_l1"] <= best * (1 + PLATEAU_TOLERANCE))
    levels = result.report["codec"]["levels"]
    return {"value": plateau["elapsed_s"], "unit": "s", "files": len(used), "epoch": plateau["epoch"],
            "total_train_s": result.report["timings"]["train_s"], "val_mel_l1": result.report["codec"]["val_mel_l1"],
            "min_utilization": min(h["utilization"] for h in levels),
            "min_perplexity_share": min(h["perplexity_share"] for h in levels),
            "verdict": result.report["health"]["verdict"]}


FIGURES = {
    "train_ms_per_chunk": train_ms_per_chunk,
    **{f"train_s_to_plateau_{name}": (lambda name=name: _plateau(name))
       for name in ("dev-tiny-5", "dev-small-30", "dev-mixed-120")},
}
