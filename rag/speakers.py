"""The people who speak in the episodes: who said something, not what it is about.

Questions name the hosts and guests to say whose view they want ("Denkt Rick dat …?",
"in het interview met Rick"). In the captions the guest speaks and is hardly named; he
is named where the hosts announce or introduce him, so his name pulls the search there.
The search therefore also runs with the question without the names of the people who
speak, and passages are placed by it (`rag.retrieval`). Hosts are listed in
`rag/data/speakers.txt` (extendable with `SPEAKERS_FILE`); a guest is read from the
episode title ("exclusief interview met Rick Lamers (Groq)").

Dev, 5 folds: evidence spans 110 -> 112 of 124, key facts 0.626 -> 0.657, answerable
questions doubted (held out) 0.136 -> 0.107, refusals unchanged; no fold worse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from rag.lexicon import bundled_and_extra, phrase_pattern

BUNDLED = Path(__file__).parent / "data" / "speakers.txt"
_NAME = r"[A-ZÀ-Ý][\w'-]*"
GUEST_RE = re.compile(
    rf"\b(?i:interview|gesprek|podcast|praten|praat)\s+met\s+({_NAME}(?:\s+(?:van\s+|de\s+)?{_NAME}){{0,3}})"
)
MIN_WORDS = 3  # fewer left: the question is about the person, keep it whole


def guests_in_title(title: str) -> list[str]:
    """Guests an episode title names: "… interview met Rick Lamers (Groq)"."""
    return [m.group(1) for m in GUEST_RE.finditer(title)]


class Speakers:
    """Full names and first names of the people who speak, matched as whole words in
    any case, with a possessive "'s" ("Rick's"). A surname alone is not matched: it
    may be a word ("Brand"). Hosts are listed (`names`); guests are read from titles,
    and a guest's first name that is one of the `topics` (the lexicon's names: a guest
    called Claude) is matched only in the full name; a guest that is a topic ("gesprek
    met Claude") is none."""

    def __init__(
        self, names: Iterable[str], guests: Iterable[str] = (), topics: Iterable[str] = ()
    ) -> None:
        self.names = sorted({" ".join(n.split()) for n in names if n.strip()})
        self.topics = frozenset(t.lower() for t in topics)
        self.guests = sorted(
            {" ".join(g.split()) for g in guests if g.strip() and not self._is_topic(g)}
            - set(self.names)
        )
        firsts = {n.split()[0] for n in self.names}
        firsts |= {g.split()[0] for g in self.guests if g.split()[0].lower() not in self.topics}
        self._pattern = phrase_pattern({*self.names, *self.guests, *firsts}, suffix="(?:'s)?")

    def _is_topic(self, guest: str) -> bool:
        """A one-word "guest" the lexicon knows ("gesprek met Claude"): a model, not a
        person (the lexicon lists people too, by their full names: "Rick Lamers")."""
        return len(guest.split()) == 1 and guest.lower() in self.topics

    def guests_of(self, title: str) -> list[str]:
        """The guests an episode title names, without models ("gesprek met Claude") and
        hosts."""
        guests = (" ".join(g.split()) for g in guests_in_title(title))
        return [g for g in guests if not self._is_topic(g) and g not in self.names]

    def with_guests(self, titles: Iterable[str], topics: Iterable[str] = ()) -> Speakers:
        """These speakers and the guests the episode `titles` name."""
        guests = [g for t in titles for g in guests_in_title(t)]
        return Speakers(self.names, [*self.guests, *guests], [*self.topics, *topics])

    def without(self, question: str) -> str:
        """`question` without the speakers' names; unchanged when too little is left."""
        if self._pattern is None:
            return question
        stripped = " ".join(self._pattern.sub(" ", question).split())
        stripped = re.sub(r"\s+([?.!,])", r"\1", stripped)
        return stripped if len(stripped.split()) >= MIN_WORDS else question


def parse_speakers(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=8)
def load_speakers(extra: Path | None = None) -> Speakers:
    """The bundled hosts plus an admin's `SPEAKERS_FILE`, when it can be read."""
    texts = bundled_and_extra(BUNDLED, extra, "SPEAKERS_FILE")
    return Speakers([name for text, _ in texts for name in parse_speakers(text)])
