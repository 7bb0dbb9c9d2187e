"""distill eval MODEL DATA_DIR: codec quality and health on data, the A/B baseline, the moves."""
from __future__ import annotations

from engine.commands.common import load_usable, print_json
from engine.evaluate import evaluate_codec, evaluate_with_baseline
from engine.model import Model

HELP = "measure a model on a folder: mel L1, codebook health, --baseline (continuous A/B), --moves"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--baseline", action="store_true",
                   help="also train the same network without quantizer and report RVQ / continuous mel L1")
    p.add_argument("--moves", action="store_true",
                   help="also report, per perceptual move, the share of 100 random regions it changed the right way")
    p.add_argument("--regions", type=int, default=100, help="random regions per move with --moves")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    model = Model.load(args.model)
    used, _ = load_usable(args.data_dir, model.config.audio.sample_rate, model.config.audio.min_duration_s,
                          quiet=args.json)
    result = evaluate_with_baseline(model, used) if args.baseline else {"codec": evaluate_codec(model, used)}
    if args.moves:
        from engine.moves import evaluate_moves
        result["moves"] = evaluate_moves(model, used, n_regions=args.regions)["moves"]
    if args.json:
        print_json(result)
        return 0
    codec = result["codec"]
    print(f"mel L1 {codec['val_mel_l1']:.4f} on {len(used)} files; use per level: "
          + ", ".join(f"{h['utilization']:.0%}" for h in codec["levels"]))
    if "moves" in result:
        print("moves: " + ", ".join(f"{name} {share:.2f}" for name, share in result["moves"].items()))
    if "ratio" in result:
        print(f"continuous baseline mel L1 {result['baseline']['val_mel_l1']:.4f}; RVQ / continuous = {result['ratio']:.3f}")
    return 0
