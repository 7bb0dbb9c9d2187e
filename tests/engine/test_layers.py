"""The packages of `engine/` are layers: every import goes down the list or stays in its package.

The order is declared once, in `LAYERS`; docs/ARCHITECTURE.md lists the packages in the same order
(checked here). Every import counts: at module level, inside functions (lazy imports) and under
`if TYPE_CHECKING:` alike, so an annotation cannot point up either. The modules directly in
`engine/` are the core, at the bottom: they import only each other.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"

# bottom to top: a module may import its own package and the ones before it
LAYERS = ("core", "signal", "codec", "prior", "live", "edit", "workflow", "server", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """`engine.signal.mel` -> signal; `engine.errors` and `engine` -> core."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (ENGINE / parts[1]).is_dir() else "core"


def imports_of(path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """(engine module, line) for every import in a file, wherever it stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        out += [(t, node.lineno) for t in targets if t == "engine" or t.startswith("engine.")]
    return out


def upward(edges: list[tuple[str, str, int]]) -> list[str]:
    """The edges (importer, imported, line) that point up the layers, as sentences."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return [f"{src}:{line} imports {dst} ({layer_of(src)} may not import {layer_of(dst)})"
            for src, dst, line in edges if rank[layer_of(dst)] > rank[layer_of(src)]]


def engine_edges() -> list[tuple[str, str, int]]:
    paths = sorted(ENGINE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return [(module_name(p), dst, line) for p in paths for dst, line in imports_of(p, modules)]


def test_the_checker_finds_a_planted_upward_import():
    planted = [("engine.codec.model", "engine.live.decoder", 3), ("engine.live.decoder", "engine.codec.model", 9),
               ("engine.codes", "engine.signal.audio", 5), ("engine.cli.train", "engine.errors", 1)]
    assert upward(planted) == ["engine.codec.model:3 imports engine.live.decoder (codec may not import live)",
                               "engine.codes:5 imports engine.signal.audio (core may not import signal)"]


def test_every_package_of_engine_has_a_layer():
    packages = {p.parent.name for p in ENGINE.glob("*/__init__.py")}
    assert packages == set(LAYERS) - {"core"}, "place a new package in LAYERS and docs/ARCHITECTURE.md"


def test_imports_only_go_down_the_layers():
    assert upward(engine_edges()) == []


def test_package_inits_import_nothing():
    """Importing `engine.prior.generate` runs `engine/prior/__init__.py` first: a package that
    imported its modules would load torch into the live path. (`engine.cli` is the exception: its
    `__init__` is the `distill` entry point, and imports only argparse and `engine.errors`.)"""
    for init in ENGINE.glob("*/__init__.py"):
        if init.parent.name == "cli":
            continue
        body = ast.parse(init.read_text()).body
        assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body), init


def test_the_library_imports_no_test_or_tool_module():
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("tests", "tools", "osc_client", "osc_fuzz", "serve_process")), path


def test_architecture_lists_the_packages_in_layer_order():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    listed = re.findall(r"^- \*\*`engine/(\w+)/`\*\*", text, re.M)
    assert ["core"] + listed == list(LAYERS)
