#!/usr/bin/env python3
"""Perceptual-move success rates: per move, the share of random non-silent regions where the move
changed its named descriptor the named way (measured on the full decode of the result).

Usage: tools/eval_moves.py MODEL DATA_DIR [--regions 100] [--seed 0] [--no-verify] [--both] [--json]

`--both` also runs the labels-only ablation (no decoder verification of candidates) and reports it
under "unverified". `tools/eval DATA_DIR --moves` calls `evaluate_moves_cli` on its fresh model.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SHARE = 0.9  # the target: every move right in at least 90% of applications


def evaluate_moves_cli(model, audios, n_regions: int = 100, seed: int = 0, both: bool = False,
                       verify: bool = True) -> dict:
    """The report `tools/eval --moves` stores: shares per move, the target check, timings."""
    from engine.edit.labels import compute_labels, model_labels
    from engine.edit.moves import evaluate_moves

    started = time.perf_counter()
    labels = model_labels(model)
    source = "bundle"
    if labels is None:
        labels, source = compute_labels(model, audios=audios, seed=seed), "measured on DATA_DIR"
    labels_s = time.perf_counter() - started
    report = evaluate_moves(model, audios, n_regions=n_regions, seed=seed, verify=verify, labels=labels)
    report["labels"] = source
    report["meets_target"] = all(share >= TARGET_SHARE for share in report["moves"].values())
    report["timings"] = {"labels_s": round(labels_s, 2), "eval_s": round(time.perf_counter() - started - labels_s, 2)}
    if both and verify:
        report["unverified"] = evaluate_moves(model, audios, n_regions=n_regions, seed=seed, verify=False,
                                              labels=labels)["moves"]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-verify", action="store_true", help="labels only: no decoder check of candidates")
    parser.add_argument("--both", action="store_true", help="also report the labels-only ablation")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from engine.cli.common import load_usable
    from engine.codec.model import Model

    model = Model.load(args.model)
    used, _ = load_usable(str(args.data_dir), model.config.audio.sample_rate, model.config.audio.min_duration_s,
                          quiet=True)
    report = evaluate_moves_cli(model, used, args.regions, args.seed, args.both, not args.no_verify)
    report.update(model=str(args.model), data_dir=str(args.data_dir))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for name, share in report["moves"].items():
            extra = f" (labels only {report['unverified'][name]:.0%})" if "unverified" in report else ""
            print(f"{name:9s} {share:6.1%}{extra}")
        print(f"{report['regions']} regions; target {TARGET_SHARE:.0%} met: {report['meets_target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
