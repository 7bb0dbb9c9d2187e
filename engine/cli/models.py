"""distill models [--json] [--filter TEXT]: the model library, read from each bundle's manifest."""
from __future__ import annotations

import json
from pathlib import Path

from engine.server.library import list_models, models_dir

HELP = "list the models in the library (name, levels, codebook size, files, health, created)"


def add_arguments(p) -> None:
    p.add_argument("--dir", type=Path, default=None, help="models folder (default: $DISTILL_MODELS or models/)")
    p.add_argument("--filter", default="", metavar="TEXT", help="only names containing TEXT")
    p.add_argument("--json", action="store_true", help="print a JSON list")


def run(args) -> int:
    folder = args.dir or models_dir()
    entries = list_models(folder, args.filter)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=1))
        return 0
    if not entries:
        print(f"no models in {folder}" + (f" matching {args.filter!r}" if args.filter else ""))
        return 0
    print(f"{'name':24} {'levels':>6} {'codes':>6} {'files':>6} {'health':10} created")
    for e in entries:
        print(f"{e.name:24} {e.levels:>6} {e.codebook_size:>6} {e.files:>6} {e.health:10} {e.created}"
              + (f"  ({e.message})" if e.health == "unreadable" else ""))
    return 0
