"""distill info MODEL: what a model file holds, its health and its training report."""
from __future__ import annotations

from pathlib import Path

from engine.bundle import load_bundle
from engine.cli.common import print_json
from engine.errors import InputError

HELP = "show a model's config, dataset, codebook health and training report"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="a .distill model file")
    p.add_argument("--json", action="store_true", help="print the training report as JSON")
    p.add_argument("--plots", type=Path, metavar="DIR",
                   help="write the training pictures (loss, code use per level, spectrograms) into DIR")


def run(args) -> int:
    bundle = load_bundle(args.model)
    try:
        return _show(args, bundle)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:  # a report of another shape
        raise InputError(f"{args.model}: its training report is malformed ({type(e).__name__}: {str(e)[:120]})") from None


def _show(args, bundle) -> int:
    report = dict(bundle.meta.get("report", {}))
    summary = {"model_id": bundle.model_id, "created": bundle.created, "components": sorted(bundle.tensors),
               "files": sorted(bundle.files), **report}
    if "plots" in summary:  # picture data (8-bit mels) is for --plots, not for reading
        summary["plots"] = sorted(report["plots"])
    if args.plots is not None:
        from engine.workflow.plots import write_plots
        written, missing = write_plots(report, args.plots)
        summary["plot_files"] = [str(p) for p in written]
        summary["plots_not_drawn"] = missing
    if args.json:
        print_json(summary)
        return 0
    codec = bundle.config.codec
    print(f"{args.model}: model {bundle.model_id}, created {bundle.created}")
    print(f"  codec: {codec.levels} levels x {codec.codebook_size} codes, {bundle.config.audio.sample_rate} Hz")
    if report:
        print(f"  dataset: {report['files']['used']} files used, {len(report['files']['skipped'])} skipped")
        print(f"  health: {report['health']['verdict']}: {report['health']['message']}")
        for h in report["codec"]["levels"]:
            print(f"    level {h['level'] + 1}: use {h['utilization']:.0%}, perplexity {h['perplexity']:.1f}, "
                  f"dead {h['dead_codes']}")
        print(f"  validation mel L1: {report['codec']['val_mel_l1']:.4f}; trained in {report['timings']['train_s']:.0f} s")
        if "prior" in report:
            from engine.prior.memorisation import describe
            for line in describe(report["prior"]):
                print(f"  {line}")
    for path in summary.get("plot_files", []):
        print(f"wrote {path}")
    for line in summary.get("plots_not_drawn", []):
        print(f"not drawn: {line}")
    return 0
