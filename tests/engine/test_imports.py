"""The import graph of `engine/`: no module-level import circle (lazy imports inside functions and
`if TYPE_CHECKING:` blocks do not count: they run after both modules exist), and the one-way rules
(engine never imports bridge or sounddevice; the server core imports no handler)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, name: str) -> set[str]:
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.parse(path.read_text()).body:  # module level only
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ([node] if not isinstance(node, (ast.If, ast.Try)) else ast.walk(node)):
            if isinstance(sub, ast.Import):
                out |= {a.name for a in sub.names}
            elif isinstance(sub, ast.ImportFrom):
                base = sub.module or ""
                if sub.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - sub.level + 1] + ([base] if base else []))
                out.add(base)
                out |= {f"{base}.{a.name}" for a in sub.names}
    return out


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (ROOT / "engine").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _top_level_imports(path, name) if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_engine_has_no_module_level_import_circle():
    assert find_cycle(import_graph()) is None


def test_the_server_core_imports_no_handler_and_engine_no_bridge():
    graph = import_graph()
    core = ast.parse((ROOT / "engine" / "server" / "core.py").read_text())
    lazy = {n.module for n in ast.walk(core) if isinstance(n, ast.ImportFrom)}  # inside functions too
    assert not any((m or "").startswith("engine.server.handlers") for m in lazy), "core must be given its handlers"
    for name in graph:
        text = (ROOT / Path(*name.split("."))).with_suffix(".py")
        text = text if text.exists() else ROOT / Path(*name.split(".")) / "__init__.py"
        source = text.read_text()
        assert "import sounddevice" not in source and "from bridge" not in source and "import bridge" not in source, name
