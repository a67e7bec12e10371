"""Dutch text helpers: word spans, filler cleaning and stemmed search tokens."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_DUTCH

WORD_RE = re.compile(r"\S+")
TOKEN_RE = re.compile(r"\w+", re.UNICODE)

# Auto-caption noise: hesitations and sound markers carry no meaning.
FILLERS = frozenset({"eh", "ehm", "uh", "uhm", "hm", "hmm", "em", "ehh"})
MARKER_RE = re.compile(r"\[(?:muziek|applaus|gelach|music|applause|laughter)\]", re.IGNORECASE)

# Question words and conversational glue that say nothing about the topic.
EXTRA_STOPWORDS = frozenset(
    {
        "wat",
        "wie",
        "waar",
        "waarom",
        "wanneer",
        "hoe",
        "hoeveel",
        "welk",
        "welke",
        "eigenlijk",
        "zegt",
        "zei",
        "zeggen",
        "gezegd",
        "volgens",
        "aflevering",
        "afleveringen",
        "podcast",
        "besproken",
        "vindt",
        "vinden",
        "gewoon",
        "echt",
        "nou",
        "ja",
        "nee",
        "oké",
        "ok",
        "heel",
        "beetje",
        "wel",
        "weer",
        "even",
        "muziek",
        "applaus",
        "vraag",
        "vragen",
        "kun",
        "kan",
        "kunnen",
        "jij",
        "jullie",
    }
)
STOPWORDS = frozenset(STOPWORDS_DUTCH) | FILLERS | EXTRA_STOPWORDS


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("dutch")


def search_tokens(text: str) -> list[str]:
    """Return lowercase, stopword-free, Dutch-stemmed tokens for lexical search."""
    words = [w for w in TOKEN_RE.findall(text.lower()) if w not in STOPWORDS]
    # Keep one-letter tokens only when they are digits ("3" in "grok 3").
    words = [w for w in words if len(w) > 1 or w.isdigit()]
    return _stemmer().stemWords(words)


def clean_caption(text: str) -> str:
    """Remove fillers, sound markers and stuttered repeats from auto-captions."""
    text = MARKER_RE.sub(" ", text)
    out: list[str] = []
    for word in text.split():
        bare = word.lower().strip(".,!?")
        if bare in FILLERS:
            continue
        if out and out[-1].lower() == word.lower():
            continue  # "het het", "ik ik": ASR stutter
        out.append(word)
    return " ".join(out)


def word_count(text: str) -> int:
    return len(text.split())
