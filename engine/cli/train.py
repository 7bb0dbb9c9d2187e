"""distill train DATA_DIR --out MODEL.distill: codec, then prior, then the live graphs."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.cli.common import Progress, ProgressLine, print_json
from engine.codec.train import TrainingInterrupted
from engine.workflow.pipeline import EARLY_LINE, TrainRequest, load_training_data, train_model

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


def request_of(args) -> TrainRequest:
    return TrainRequest(Path(args.data_dir), Path(args.out), args.seed, args.max_minutes, tuple(args.overrides),
                        args.config, args.resume, prior=not args.no_prior, export=not args.no_export)


def run(args) -> int:
    started = time.monotonic()
    request = request_of(args)
    used, skipped, config = load_training_data(request)
    print(f"distill train: {len(used)} files used, {len(skipped)} skipped; config:", file=sys.stderr)
    print(json.dumps(config.to_dict(), indent=None), file=sys.stderr)
    bar = ProgressLine(not args.json)
    checkpoint = request.checkpoint_path
    if args.resume:
        print(f"distill train: resuming from {checkpoint}" if checkpoint.exists() else
              f"distill train: no checkpoint at {checkpoint}; starting from the beginning", file=sys.stderr)
    prior_bar = Progress("distill train: prior", total=config.prior.max_steps, quiet=args.json)

    def prior_row(row: dict) -> None:
        bar.close()  # the codec's line is done once the prior reports
        prior_bar.update(row["step"], f"step {row['step']} loss {row['train_loss']:.3f}")
    def log(text: str) -> None:  # the pipeline's step lines end the bar before them
        if text.startswith(EARLY_LINE):  # written while the prior trains on: its bar goes on below
            print(("\n" if prior_bar.tty else "") + text, file=sys.stderr, flush=True)
            return
        if prior_bar.done:
            prior_bar.close()
        print(text, file=sys.stderr, flush=True)
    try:
        report = train_model(request, (used, skipped, config), progress=bar, log=log, prior_progress=prior_row,
                             started=started)
        prior_bar.close()
    except TrainingInterrupted as e:
        bar.close()
        print(f"distill train: {e}", file=sys.stderr)
        return 130
    bar.close()
    if not args.no_plots:
        from engine.workflow.plots import write_plots
        out = Path(request.out)
        written, missing = write_plots(report, args.plots or out.with_name(out.stem + "-plots"))
        for line in [f"distill train: wrote {p}" for p in written] + [f"distill train: no {m}" for m in missing]:
            print(line, file=sys.stderr)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    if args.json:
        print_json(report)
    else:
        print(f"wrote {request.out}: {report['health']['verdict']}: {report['health']['message']}")
        timings = report["timings"]
        print(f"first_playable_s {timings['first_playable_s']:.1f}, total_s {timings['total_s']:.1f}")
    return 0
