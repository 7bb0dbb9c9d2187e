"""distill export MODEL: (re)adds the ONNX graphs the live path needs (decoder; prior when the model
has one), self-tested, and
recomputes the code labels (from the context windows the labels store, so no training data is needed)."""
from __future__ import annotations

from engine.cli.common import Progress, print_json

HELP = "add the ONNX graphs for torch-free live decoding and generation to a model (self-tested against torch)"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="the .distill model file; rewritten in place, atomically")
    p.add_argument("--json", action="store_true", help="print the parity figures as JSON")


def run(args) -> int:
    from engine.workflow.pipeline import export_model
    with Progress("distill export", total=3, quiet=args.json) as bar:
        info = export_model(args.model, progress=bar.update)
    if args.json:
        print_json(info)
    else:
        for row in info["parity"]:
            print(f"frames {row['frames']:5d} batch {row['batch']}: max |onnx - torch| = {row['max_abs_diff']:.2e}")
        print(f"wrote {info['decoder']} into {args.model} (tolerance {info['parity_tolerance']})")
        if "prior" in info:
            prior = info["prior"]
            print(f"wrote {prior['step']} and {prior['depth']} (max |onnx - torch| logits = "
                  f"{prior['parity_max_abs_diff']:.2e}, tolerance {prior['parity_tolerance']})")
    return 0
