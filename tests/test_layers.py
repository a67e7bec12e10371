"""The core (`rag/`) knows nothing of Telegram or the bot: the bot builds on it, not back."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top, in functions and under TYPE_CHECKING."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_rag_imports_nothing_from_telegram_or_the_bot():
    offending = {
        f"{path.name}: {name}"
        for path in sorted((ROOT / "rag").glob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in {"bot", "telegram"}
    }
    assert not offending
    assert "bot.webinar" in imported_modules(ROOT / "bot" / "cli.py")  # the scan sees imports


def _module_graph() -> dict[str, set[str]]:
    """rag.* and bot.* modules -> the rag/bot modules they import (any import anywhere)."""
    modules = {
        f"{pkg}.{path.stem}": path
        for pkg in ("rag", "bot")
        for path in (ROOT / pkg).glob("*.py")
        if path.stem != "__init__"
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.add(node.module)
                targets.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycles_among_rag_and_bot_modules():
    graph = _module_graph()
    assert "rag.service" in graph["bot.answering"] or "rag.service" in graph["bot.runtime"]
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"
