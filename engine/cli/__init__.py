"""`distill` command line. Each command lives in `engine/cli/<name>.py` with
`HELP`, `add_arguments(parser)` and `run(args) -> int`; add a module and list it here.

Exit codes: 0 success, 2 bad input (one sentence on stderr naming the file or argument).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from engine.errors import InputError

COMMANDS = {
    "train": "engine.cli.train",
    "info": "engine.cli.info",
    "eval": "engine.cli.eval",
    "reconstruct": "engine.cli.reconstruct",
    "models": "engine.cli.models",
    "serve": "bridge.serve",  # the CLI is the composition root: engine/ never imports bridge/
    "demo": "engine.cli.demo",
    "export": "engine.cli.export",
    "generate": "engine.cli.generate",
    "encode": "engine.cli.encode",
    "decode": "engine.cli.decode",
    "edit": "engine.cli.edit",
}


def package_version() -> str:
    """The version in pyproject.toml (its one place) for a clone, else the installed metadata."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        import tomllib
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (tomllib.TOMLDecodeError, KeyError, OSError):
            pass
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("distill")
    except PackageNotFoundError:
        return "unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its one-line form
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that command's module is imported (torch stays out of
    `distill serve` start-up until a command needs it)."""
    parser = _Parser(prog="distill", description="Distill: a neural instrument trained on your own sounds.")
    parser.add_argument("--version", "-V", action="version", version=f"distill {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name)  # listed, not imported
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-V"]):  # before importing every command
        print(f"distill {package_version()}")
        return 0
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except InputError as e:
        print(f"distill {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"distill {args.command}: interrupted", file=sys.stderr)
        return 130

