"""No import circles among sntakeover's modules (imports made only for type checking do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "sntakeover"

#: circles known and left for now, each with its reason; the test fails when a new one appears
KNOWN = {
    frozenset({"sntakeover.runner", "sntakeover.sshrunner"}): "make_runner() picks the SSH runner lazily",
    frozenset({"sntakeover.xcatsim.snmove", "sntakeover.xcatsim.snmove_nodes"}): "the simulator's snmove, split in two",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Modules of the package ``path`` imports, anywhere in it but under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sntakeover"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, *([base] if base else [])])
            if base.startswith("sntakeover"):
                for a in node.names:  # "from . import cli_control" imports a module
                    sub = f"{base}.{a.name}"
                    found.add(sub if (PKG.parent / (sub.replace(".", "/") + ".py")).exists() else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found - {here}


def test_no_import_circles():
    graph = {module_name(p): imports(p) for p in PKG.rglob("*.py")}
    # strongly connected components (Tarjan)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[frozenset[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(frozenset(comp))

    for v in graph:
        if v not in index:
            strong(v)
    assert graph["sntakeover.cli"] >= {"sntakeover.cli_control", "sntakeover.cli_records", "sntakeover.hookcli"}
    assert graph["sntakeover.hookcli"] >= {"sntakeover.webhook"}
    new = [sorted(c) for c in circles if c not in KNOWN]
    assert not new, f"import circles: {new}"
