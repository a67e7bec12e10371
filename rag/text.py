"""Dutch text helpers: word spans, filler cleaning and stemmed search tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
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


# Words a caption window often starts with that lean on what came before.
LEADING_GLUE = frozenset(
    {"en", "dus", "maar", "want", "of", "ja", "nee", "nou", "zeg", "oké", "ok", "hè", "van", "die"}
)
STUTTER_MAX = 4  # longest repeated word run collapsed ("ik denk dat ik denk dat")


def collapse_repeats(words: list[str]) -> list[str]:
    """Drop immediately repeated runs of 1-4 words (case-insensitive): ASR stutters."""
    out: list[str] = []
    for word in words:
        out.append(word)
        for n in range(1, STUTTER_MAX + 1):
            if len(out) >= 2 * n and [w.lower() for w in out[-n:]] == [
                w.lower() for w in out[-2 * n : -n]
            ]:
                del out[-n:]
                break
    return out


def mark_sentences(words: list[str]) -> list[str]:
    """A full stop before each sentence the captions start: auto-captions have no
    punctuation but capitalise a sentence's first word, so a capitalised function word
    ("Ja", "Ik", "Dus") starts one. Capitalised other words may be names: no stop."""
    out = list(words)
    for i in range(1, len(out)):
        word = out[i]
        if word[:1].isupper() and word.lower() in STOPWORDS and out[i - 1][-1:].isalnum():
            out[i - 1] += "."
    return out


def readable(text: str, fix_names: Callable[[str], str] | None = None) -> str:
    """Caption text made for reading: no fillers, stutters or leading glue words, a full
    stop where the captions start a sentence, names spelled right (`fix_names`, e.g.
    `Lexicon.fix_spelling`), a capital at the start and an ellipsis where the speaker
    goes on, and where it starts inside a sentence. Display only: quotes stay verbatim."""
    text = MARKER_RE.sub(" ", text)
    words = [w for w in text.split() if w.lower().strip(".,!?") not in FILLERS]
    words = collapse_repeats(words)
    # Glue words, and a stray letter where the window cut a name ("q" of "grok met een q").
    glued = False
    while len(words) > 8 and (
        words[0].lower() in LEADING_GLUE or (len(words[0]) == 1 and words[0].isalpha())
    ):
        words.pop(0)
        glued = True
    # The captions capitalise a sentence's first word: a lowercase first word, with no
    # glue dropped before it, means the window was cut inside a sentence.
    mid_sentence = bool(words) and not glued and words[0][:1].islower()
    out = " ".join(mark_sentences(words))
    if fix_names is not None:
        out = fix_names(out)
    if not out:
        return ""
    out = "…" + out if mid_sentence else out[0].upper() + out[1:]
    return out if out[-1] in ".!?…" else out + "…"


def word_count(text: str) -> int:
    return len(text.split())
