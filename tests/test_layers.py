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
