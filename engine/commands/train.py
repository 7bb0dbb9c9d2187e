"""distill train DATA_DIR --out MODEL.distill: codec, then prior, then the live graphs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.bundle import save_bundle
from engine.commands.common import ProgressLine, load_usable, print_json
from engine.config import Config, load_toml
from engine.errors import InputError
from engine.train import TrainingInterrupted, train_codec, with_resolved_defaults

HELP = "train a model on a folder of your sounds (codec, then prior, then ONNX graphs)"


def add_arguments(p) -> None:
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder of audio files (searched recursively)")
    p.add_argument("--out", required=True, metavar="MODEL.distill", help="model file to write")
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed and data give the same model on CPU")
    p.add_argument("--max-minutes", type=float, default=None, help="training time budget for the codec")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set codec.codebook_size=32 (repeatable)")
    p.add_argument("--config", type=Path, help="TOML file with [audio] [codec] [prior] [train] sections")
    p.add_argument("--report", type=Path, metavar="REPORT.json", help="also write the training report here")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint an interrupted run left")
    p.add_argument("--no-prior", action="store_true", help="train the codec only (no generation)")
    p.add_argument("--no-export", action="store_true", help="skip the ONNX graphs for the live path")
    p.add_argument("--plots", type=Path, metavar="DIR", default=None,
                   help="folder for the training pictures (loss.png, code_usage.png, spectrogram.png; "
                        "default: next to the model, NAME-plots/)")
    p.add_argument("--no-plots", action="store_true", help="write no pictures")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def resolve_config(args, usable_files: int) -> Config:
    base = load_toml(args.config) if args.config else Config()
    overrides = [f"train.seed={args.seed}", *args.overrides]
    if args.max_minutes is not None:
        overrides.append(f"train.max_minutes={args.max_minutes}")
    return with_resolved_defaults(base, usable_files, overrides)


def run(args) -> int:
    out = Path(args.out)
    if out.suffix != ".distill":
        raise InputError(f"--out {out}: a model file must end in .distill")
    probe = resolve_config(args, 1)  # audio settings decide how files are read
    used, skipped = load_usable(args.data_dir, probe.audio.sample_rate, probe.audio.min_duration_s,
                                max_duration_s=probe.audio.max_file_duration_s)
    config = resolve_config(args, len(used))
    print(f"distill train: {len(used)} files used, {len(skipped)} skipped; config:", file=sys.stderr)
    print(json.dumps(config.to_dict(), indent=None), file=sys.stderr)
    bar = ProgressLine(not args.json)
    checkpoint = out.with_name(out.name + ".ckpt")
    if args.resume:
        print(f"distill train: resuming from {checkpoint}" if checkpoint.exists() else
              f"distill train: no checkpoint at {checkpoint}; starting from the beginning", file=sys.stderr)
    try:
        result = train_codec(used, skipped, config, checkpoint_path=checkpoint, resume=args.resume, progress=bar)
    except TrainingInterrupted as e:
        bar.close()
        print(f"distill train: {e}", file=sys.stderr)
        return 130
    bar.close()
    bundle = result.bundle
    for step in finishing_steps(args):
        bundle = step(bundle, result, config)
    bundle = with_plot_data(bundle, result)
    save_bundle(out, bundle)
    report = bundle.meta["report"]
    if not args.no_plots:
        from engine.plots import write_plots
        written, missing = write_plots(report, args.plots or out.with_name(out.stem + "-plots"))
        for line in [f"distill train: wrote {p}" for p in written] + [f"distill train: no {m}" for m in missing]:
            print(line, file=sys.stderr)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    if args.json:
        print_json(report)
    else:
        print(f"wrote {out}: {report['health']['verdict']}: {report['health']['message']}")
    return 0


def with_plot_data(bundle, result):
    """The report gains what spectrogram.png needs (a validation clip and its reconstruction), so
    that `distill info --plots` can draw it from the bundle alone."""
    from engine.model import Model
    from engine.plots import spectrogram_record
    index = (result.val_idx or result.train_idx)[0]
    record = spectrogram_record(Model(bundle), result.mels.mels[index], result.mels.names[index])
    report = dict(bundle.meta.get("report", {}))
    report["plots"] = {**report.get("plots", {}), "spectrogram": record}
    return bundle.with_meta(report=report)


def finishing_steps(args) -> list:
    """What runs after the codec, in order; each takes (bundle, codec result, config) and returns
    a Bundle: the prior (unless --no-prior), the code labels, then the ONNX graphs for the live path."""
    steps = []
    if not args.no_prior:
        steps.append(_prior_step(ProgressLine(not args.json)))
    steps.append(_labels_step)
    if not args.no_export:
        steps.append(_export_step)
    return steps


def _prior_step(bar):
    def step(bundle, result, config):
        from engine.prior_train import prior_finishing_step
        print("distill train: prior", file=sys.stderr)
        history = []  # the prior's evaluations, kept in the report for loss.png
        out = prior_finishing_step(bundle, result, config, progress=lambda row: history.append(
            {k: row.get(k) for k in ("step", "train_loss", "val_perplexity", "elapsed_s")}))
        bar.close()
        report = dict(out.meta.get("report", {}))
        report["prior_training"] = {**report.get("prior_training", {}), "history": history}
        return out.with_meta(report=report)
    return step


def _labels_step(bundle, result, config):
    from engine.labels import label_bundle
    from engine.model import Model
    print("distill train: code labels", file=sys.stderr)
    train_mels = [result.mels.mels[i] for i in result.train_idx]
    return label_bundle(Model(bundle), mels=train_mels)


def _export_step(bundle, result, config):
    from engine.export import export_bundle
    print("distill train: ONNX graphs", file=sys.stderr)
    return export_bundle(bundle)
