"""Listening-like quality per dev set: ViSQOL MOS-LQO of a model trained here with the defaults.

`quality_mos_<set>`: value = Distill's offline MOS on clips of its training files; next to it every
variant of engine/workflow/quality.py on training and held-out (validation) clips, and the bitrates. Codec
training is budget-bounded (DISTILL_BENCH_CODEC_MINUTES, default 2; the continuous baseline gets the
same epochs and budget), and clips per split DISTILL_BENCH_CLIPS (default 3): a CPU bound, stated in
each figure, so compare figures of the same budget only.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from engine.codec.evaluate import model_baseline, split_for_quality
from engine.codec.model import Model
from engine.codec.train import train_codec, with_resolved_defaults
from engine.config import Config
from engine.signal.audio import scan_folder
from engine.workflow.quality import evaluate_quality

DEV_SETS = Path(os.environ.get("DISTILL_DEV_SETS", "/tmp/dev-sets"))
CODEC_MINUTES = float(os.environ.get("DISTILL_BENCH_CODEC_MINUTES", "2"))
CLIPS = int(os.environ.get("DISTILL_BENCH_CLIPS", "3"))


def quality_mos(set_name: str) -> dict:
    used, skipped = scan_folder(DEV_SETS / set_name, 48_000)
    config = with_resolved_defaults(Config(), len(used), [f"train.max_minutes={CODEC_MINUTES}"])
    started = time.monotonic()
    result = train_codec(used, skipped, config)
    train_s = time.monotonic() - started
    model = Model(result.bundle)
    baseline = model_baseline(model, used)
    train, held, _ = split_for_quality(model, used)
    started = time.monotonic()
    quality = evaluate_quality(model, {"train": train, "heldout": held}, baseline, max_clips=CLIPS)
    return {"value": quality["train"]["distill"], "unit": "MOS-LQO", "quality": quality,
            "codec_train_s": train_s, "codec_epochs": result.report["codec"]["epochs"],
            "eval_s": time.monotonic() - started, "codec_budget_minutes": CODEC_MINUTES,
            "clips_per_split": CLIPS, "verdict": result.report["health"]["verdict"], "load": os.getloadavg()[0]}


FIGURES = {f"quality_mos_{name}": (lambda name=name: quality_mos(name))
           for name in ("dev-tiny-5", "dev-small-30", "dev-mixed-120")}
