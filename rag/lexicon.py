"""AI names and their auto-caption spellings: query expansion and readable answers.

YouTube's Dutch captions write "entropic" for Anthropic, "grok met een q" for Groq
and "notebook Lem" for NotebookLM. The lexicon (`rag/data/lexicon.txt`, extendable
with `LEXICON_FILE`) lists, per name, the caption spellings (safe to rewrite in a
displayed answer) and search-only spellings (real words such as "cloud", which only
widen the search when the question names the name).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).parent / "data" / "lexicon.txt"


@dataclass(frozen=True)
class Name:
    name: str
    spellings: tuple[str, ...]  # caption spellings, rewritten to `name` for display
    search_only: tuple[str, ...] = ()


def phrase_pattern(phrases: Iterable[str], suffix: str = "") -> re.Pattern | None:
    """Whole-word, case-insensitive match of any phrase (any whitespace between its
    words), longest first; `suffix` is a regex allowed right after it ("'s")."""
    ordered = sorted({p for p in phrases if p}, key=len, reverse=True)
    if not ordered:
        return None
    body = "|".join(r"\s+".join(map(re.escape, p.split())) for p in ordered)
    return re.compile(rf"(?<![\w-])(?:{body}){suffix}(?![\w-])", re.IGNORECASE)


def bundled_and_extra(bundled: Path, extra: Path | None, setting: str) -> list[tuple[str, str]]:
    """(text, origin) of a bundled data file and of an admin's file named by `setting`
    (e.g. `LEXICON_FILE`), when that can be read; a warning says why not."""
    texts = [(bundled.read_text(encoding="utf-8"), f"bundled {bundled.stem}")]
    if extra is not None:
        try:
            texts.append((extra.read_text(encoding="utf-8"), str(extra)))
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("%s %s not read: %s", setting, extra, exc)
    return texts


@dataclass
class Lexicon:
    names: list[Name] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_phrase: dict[str, list[Name]] = {}
        for entry in self.names:
            for phrase in (entry.name, *entry.spellings):
                self._by_phrase.setdefault(_key(phrase), []).append(entry)
        self._mention = phrase_pattern(self._by_phrase)
        # Case matters for display ("Ai" -> "AI"), so a spelling equal to the name but
        # for case is kept too; the match is replaced by the name as written.
        fixes = {_key(s): e.name for e in self.names for s in e.spellings}
        self._fixes = fixes
        self._fix = phrase_pattern(fixes)

    def mentioned(self, text: str) -> list[Name]:
        """Names the text mentions, by name or by a caption spelling."""
        if self._mention is None:
            return []
        found: dict[str, Name] = {}
        for match in self._mention.finditer(text):
            for entry in self._by_phrase.get(_key(match.group(0)), []):
                found.setdefault(entry.name, entry)
        return list(found.values())

    def variants(self, text: str) -> list[str]:
        """Every spelling of the names `text` mentions that `text` does not contain."""
        lowered = _key(text)
        out = []
        for entry in self.mentioned(text):
            for phrase in (entry.name, *entry.spellings, *entry.search_only):
                if _key(phrase) not in lowered and phrase not in out:
                    out.append(phrase)
        return out

    def fix_spelling(self, text: str) -> str:
        """Rewrite caption spellings to the names (for display only)."""
        if self._fix is None:
            return text
        return self._fix.sub(lambda m: self._fixes.get(_key(m.group(0)), m.group(0)), text)


def _key(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def parse_lexicon(text: str, origin: str = "lexicon") -> list[Name]:
    names = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if not parts[0] or len(parts) > 3:
            log.warning(
                "%s line %d ignored: expected 'Name | spellings | search-only'", origin, number
            )
            continue
        parts += [""] * (3 - len(parts))
        spellings = tuple(s.strip() for s in parts[1].split(";") if s.strip())
        search_only = tuple(s.strip() for s in parts[2].split(";") if s.strip())
        names.append(Name(parts[0], spellings, search_only))
    return names


@lru_cache(maxsize=8)
def load_lexicon(extra: Path | None = None) -> Lexicon:
    """The bundled lexicon plus an admin's `LEXICON_FILE`, when it can be read."""
    texts = bundled_and_extra(BUNDLED, extra, "LEXICON_FILE")
    return Lexicon([name for text, origin in texts for name in parse_lexicon(text, origin)])
