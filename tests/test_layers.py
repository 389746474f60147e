"""No import cycle between the top-level packages of sellerhub (CONVENTIONS.md, Layout): every
``import`` statement counts, module level and function level alike. Top-level modules (``api``,
``app``, ``runtime``, ``callbacks``, ``handlers``, …) and the lists of every domain's models and
jobs (``db/models.py``, ``jobs/registry.py``) are the composition layer above the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import sellerhub

ROOT = Path(sellerhub.__file__).parent
COMPOSITION = {"sellerhub.db.models", "sellerhub.jobs.registry"}


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "sellerhub" or len(parts) < 2 or module in COMPOSITION:
        return None
    return parts[1] if (ROOT / parts[1]).is_dir() else None


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = _package(module)
        if source is None:
            continue
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    targets = [".".join([*base, *([node.module] if node.module else [])])]
                else:
                    targets = [node.module or ""]
            else:
                continue
            for target in targets:
                dest = _package(target)
                if dest is not None and dest != source:
                    edges.setdefault((source, dest), []).append(f"{module}:{node.lineno}")
    return edges


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_between_top_level_packages() -> None:
    edges = _edges()
    assert ("connections", "identity") in edges  # the walk sees imports at all
    found = _cycles(edges)
    detail = [
        f"{a} -> {b}: {', '.join(where[:3])}"
        for group in found
        for (a, b), where in sorted(edges.items())
        if a in group and b in group
    ]
    assert not found, "\n".join(detail)
