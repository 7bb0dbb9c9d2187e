"""distill eval MODEL DATA_DIR: codec quality and health on data, the A/B baseline, the moves,
listening-like quality (--quality) and how close generations come to real sound (--generation)."""
from __future__ import annotations

from engine.cli.common import Progress, load_usable, print_json
from engine.codec.evaluate import evaluate_codec, evaluate_with_baseline, model_baseline, split_for_quality, trained_set
from engine.codec.model import Model

HELP = ("measure a model on a folder: mel L1, codebook health, --baseline (continuous A/B), --moves, "
        "--quality (ViSQOL MOS vs the mel ceiling and Opus), --generation (generated vs real windows)")


def add_arguments(p) -> None:
    from engine.workflow.likeness import CREATIVITY
    from engine.workflow.quality import CLIP_SECONDS, MAX_CLIPS
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--baseline", action="store_true",
                   help="also train the same network without quantizer and report RVQ / continuous mel L1")
    p.add_argument("--moves", action="store_true",
                   help="also report, per perceptual move, the share of 100 random regions it changed the right way")
    p.add_argument("--regions", type=int, default=100, help="random regions per move with --moves")
    p.add_argument("--quality", action="store_true",
                   help="ViSQOL MOS-LQO on training and held-out clips: Distill offline and live, the true mel "
                        "through the same phase method, the continuous baseline, Opus 6 and 12 kbps, and bitrates")
    p.add_argument("--generation", action="store_true",
                   help="Frechet distance and classifier accuracy of generated vs held-out half-second windows, "
                        "next to training vs held-out, at several Creativity settings")
    p.add_argument("--heldout", metavar="DIR", default=None,
                   help="held-out files for --quality/--generation (default: the files of DATA_DIR the model "
                        "did not train on, by its dataset record)")
    p.add_argument("--clips", type=int, default=MAX_CLIPS, help="clips per split with --quality")
    p.add_argument("--clip-seconds", type=float, default=CLIP_SECONDS, help="clip length with --quality")
    p.add_argument("--creativity", type=float, nargs="+", default=list(CREATIVITY), metavar="X",
                   help="Creativity settings for --generation")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    from engine.errors import InputError
    if args.clips < 1 or not 0.5 <= args.clip_seconds <= 60:
        raise InputError("--clips must be at least 1 and --clip-seconds within 0.5-60")
    if any(not c > 0 for c in args.creativity):
        raise InputError("--creativity values must be above 0")
    steps = 2 + (args.baseline or args.quality) + args.moves + args.quality + args.generation
    bar = Progress("distill eval", total=steps, quiet=args.json)
    bar.note("reading the files")
    model = Model.load(args.model)
    audio_cfg = model.config.audio
    used, _ = load_usable(args.data_dir, audio_cfg.sample_rate, audio_cfg.min_duration_s, quiet=args.json)
    heldout = (load_usable(args.heldout, audio_cfg.sample_rate, audio_cfg.min_duration_s, quiet=args.json)[0]
               if args.heldout else None)
    bar.advance(1, "training the continuous baseline" if (args.baseline or args.quality) else "measuring the codec")
    baseline = (model_baseline(model, trained_set(model, used), progress=lambda row: bar.update(
        1 + (row["epoch"] + 1) / row["max_epochs"], f"baseline epoch {row['epoch'] + 1}/{row['max_epochs']}"))
        if (args.baseline or args.quality) else None)
    if baseline is not None:
        bar.advance(1, "measuring the codec")
    result = (evaluate_with_baseline(model, trained_set(model, used), baseline) if args.baseline
              else {"codec": evaluate_codec(model, used)})
    bar.advance(1)
    if args.moves:
        from engine.edit.moves import evaluate_moves
        bar.note("measuring the moves")
        result["moves"] = evaluate_moves(model, used, n_regions=args.regions)["moves"]
        bar.advance(1)
    if args.quality or args.generation:
        train, held, how = split_for_quality(model, used, heldout)
        result["heldout_choice"] = how
        note = None if args.json else bar.note
        if args.quality:
            from engine.workflow.quality import evaluate_quality
            result["quality"] = evaluate_quality(model, {"train": train, "heldout": held}, baseline,
                                                 args.clip_seconds, args.clips, progress=note)
            bar.advance(1)
        if args.generation:
            from engine.workflow.likeness import evaluate_generation
            result["generation"] = evaluate_generation(model, train, held, tuple(args.creativity), progress=note)
            bar.advance(1)
    bar.close()
    if args.json:
        print_json(result)
        return 0
    _print_text(result, len(used))
    return 0


def _print_text(result: dict, n_files: int) -> None:
    codec = result["codec"]
    print(f"mel L1 {codec['val_mel_l1']:.4f} on {n_files} files; use per level: "
          + ", ".join(f"{h['utilization']:.0%}" for h in codec["levels"]))
    if "moves" in result:
        print("moves: " + ", ".join(f"{name} {share:.2f}" for name, share in result["moves"].items()))
    if "ratio" in result:
        print(f"continuous baseline mel L1 {result['baseline']['val_mel_l1']:.4f}; RVQ / continuous = {result['ratio']:.3f}")
    for split, row in result.get("quality", {}).items():
        if row is None:
            print(f"quality {split}: no files")
            continue
        kbps = row["bitrate_kbps"]
        print(f"quality {split} (ViSQOL MOS-LQO, {row['clips']} clips, {row['seconds']:.0f} s): " + ", ".join(
            f"{name} {row[name]:.2f}" + (f" @ {kbps[name]:.2f} kbps" if kbps.get(name) else "")
            for name in ("distill", "distill_live", "oracle_mel", "continuous", "opus6", "opus12")
            if row.get(name) is not None))
    if "generation" in result:
        for setting, row in result["generation"]["creativity"].items():
            print(f"generation at Creativity {setting}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in row.items() if v is not None))
    if "heldout_choice" in result:
        print(f"held out: {result['heldout_choice']}")
