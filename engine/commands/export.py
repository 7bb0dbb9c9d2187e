"""distill export MODEL: (re)adds the ONNX graphs the live path needs (decoder; prior when the model
has one), self-tested, and
recomputes the code labels (from the context windows the labels store, so no training data is needed)."""
from __future__ import annotations

from engine.bundle import load_bundle, save_bundle
from engine.commands.common import Progress, print_json

HELP = "add the ONNX graphs for torch-free live decoding and generation to a model (self-tested against torch)"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="the .distill model file; rewritten in place, atomically")
    p.add_argument("--json", action="store_true", help="print the parity figures as JSON")


def run(args) -> int:
    from engine.export import export_bundle  # imports torch: only when the command runs

    from engine.labels import label_bundle
    from engine.model import Model

    bundle = load_bundle(args.model)
    with Progress("distill export", total=3, quiet=args.json) as bar:
        if "labels" in bundle.meta:
            bar.note("labelling the codes")
            bundle = label_bundle(Model(bundle))
        bar.update(1, "exporting the decoder (and prior) to ONNX and checking them against torch")
        bundle = export_bundle(bundle)
        bar.update(2, "saving")
        save_bundle(args.model, bundle)
    info = bundle.meta["onnx"]
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
