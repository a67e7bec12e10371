"""How much of each cited sentence of an LLM answer its cited fragments support.

A marker `[n]` only says which fragment a sentence leans on; whether the fragment says
it is another matter. `SupportScorer` measures it cheaply, without another model call:
the sentence's content words (lower case, punctuation, stopwords and reporting verbs
dropped, Dutch stems as in `rag.text.search_tokens`, names spelled as in the lexicon,
"twee" as "2", "5,5" and "100.000" as one number each) and the share of them the cited
fragments contain, numbers counting twice. A fragment contains a word when one of its
own stems is the same, or, for stems of `COMPOUND_MIN` letters or more, when the word
stands in the fragment's letters run together (compounds: "chipmachines" in "chip
machines", "lithografie" in "lithografiemachines"). Caption spellings of names count
as the name ("entropic" supports "Anthropic", "grok met een q" supports "Groq"), and
so do the lexicon's search-only spellings ("cloud" supports "Claude").

A sentence with fewer than `MIN_TERMS` content words is not judged (score None):
"ASML [1]." says too little to measure. A judged sentence is supported when its score
is at least `SUPPORTED`, that is unless most of its content words are absent. The
cut-off was read off `eval/support_calibration.py`: 32 hand-written paraphrases of
dev-set evidence (LLM style) against the retrieved fragment holding the evidence score
0.50-1.00 (median 0.89); the same sentences against another retrieved fragment for the
question score 0.00-0.44, but for two whose "other" fragment says the same thing again
(0.60, 0.80); 10 invented details on the right topic score 0.00-0.38, one 0.50.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN

from rag.lexicon import Lexicon, load_lexicon
from rag.text import TOKEN_RE, clean_caption, search_tokens

MIN_TERMS = 3
SUPPORTED = 0.5
COMPOUND_MIN = 5
# A number weighs as much as two words: it is what a reader checks and what a model
# most often gets wrong ("5,5 miljoen", "sinds 2016").
NUMBER_WEIGHT = 2.0
# `[n]` markers, also a run like `[1][2]`.
MARKER_RE = re.compile(r"\[(\d+)\]")
# A sentence ends at . ! ? … (with any markers right after it) before white space, or at
# a line break; the markers stay with the sentence they follow.
SENTENCE_END_RE = re.compile(r"[.!?…]+(?:[ \t]*\[\d+\])*(?=\s|$)|\n+")
_LETTERS_RE = re.compile(r"[\W_]+")
# "5,5" and "100.000" are one number each, not "5" and "5".
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)+")
# Words of an answer sentence that carry no claim: reporting verbs, generic verbs and
# adverbs an answer adds around what was said (search stopwords are dropped anyway), and
# English glue (titles and terms quoted in English).
ANSWER_GLUE = frozenset(
    (
        "gaan gaat ging gingen maken maakt maakte gemaakt komt komen kwam mag mogen mocht "
        "werd werden worden wordt laat laten liet terwijl ook allemaal juist toch pas noemt "
        "noemde vertelt vertelde legt legde uit stelt stelde wijst wees vooral namelijk "
        "daarbij bovendien onder andere bijvoorbeeld ongeveer aldus ter sprake genoemd vermeld "
        "vermeldt spreker sprekers "
        "gesprek fragment fragmenten"
    ).split()
) | frozenset(STOPWORDS_EN)
# Numbers written out, as captions mostly write them ("een" is mostly the article).
NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien "
        "vijftien zestien zeventien achttien negentien twintig".split(),
        start=2,
    )
}


@dataclass(frozen=True)
class Sentence:
    """One sentence of an answer: where it stands and the markers it carries."""

    start: int
    end: int
    text: str
    markers: tuple[int, ...]


def sentences(text: str) -> list[Sentence]:
    """The sentences of `text`, in order, with their spans; blank pieces are skipped."""
    out: list[Sentence] = []
    start = 0
    for match in SENTENCE_END_RE.finditer(text):
        _add(out, text, start, match.end())
        start = match.end()
    _add(out, text, start, len(text))
    return out


def _add(out: list[Sentence], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    if not piece.strip():
        return
    markers = tuple(dict.fromkeys(int(n) for n in MARKER_RE.findall(piece)))
    out.append(Sentence(start, end, piece.strip(), markers))


@dataclass
class SourceText:
    """A fragment's text prepared for look-ups."""

    terms: frozenset[str]
    letters: str

    def contains(self, term: str) -> bool:
        return term in self.terms or (len(term) >= COMPOUND_MIN and term in self.letters)


class SupportScorer:
    """Scores sentences against fragment texts; see the module docstring."""

    def __init__(self, lexicon: Lexicon | None = None, cache: int = 256) -> None:
        self.lexicon = lexicon or load_lexicon()
        self._search_only: dict[str, list[str]] = {}
        for entry in self.lexicon.names:
            for phrase in entry.search_only:
                self._search_only.setdefault(phrase.lower(), []).append(entry.name)
        body = "|".join(map(re.escape, sorted(self._search_only, key=len, reverse=True)))
        self._search_only_re = re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.I) if body else None
        # The same fragments come back for related questions; a few ms each to prepare.
        self.source = lru_cache(maxsize=cache)(self._source)

    def terms(self, text: str) -> list[str]:
        """A sentence's content words (unique, in order), names spelled as in the lexicon."""
        bare = _whole_numbers(self.lexicon.fix_spelling(MARKER_RE.sub(" ", text)).lower())
        words = [NUMBER_WORDS.get(w, w) for w in TOKEN_RE.findall(bare) if w not in ANSWER_GLUE]
        return list(dict.fromkeys(search_tokens(" ".join(words))))

    def _source(self, text: str) -> SourceText:
        """A fragment's text prepared for look-ups (`source`, cached)."""
        cleaned = clean_caption(text)
        words = TOKEN_RE.findall(_whole_numbers(cleaned.lower()))
        digits = " ".join(NUMBER_WORDS.get(w, w) for w in words)
        fixed = self.lexicon.fix_spelling(cleaned)
        names = [entry.name for entry in self.lexicon.mentioned(cleaned)]
        if self._search_only_re is not None:
            for match in self._search_only_re.finditer(cleaned):
                names += self._search_only.get(match.group(0).lower(), [])
        terms = {
            *search_tokens(cleaned),
            *search_tokens(fixed),
            *search_tokens(digits),
            *search_tokens(" ".join(names)),
        }
        letters = _LETTERS_RE.sub("", f"{cleaned} {fixed}".lower())
        return SourceText(frozenset(terms), letters)

    def score(self, sentence: str, sources: Sequence[SourceText]) -> float | None:
        """Share of the sentence's content words found in any of `sources`; None when the
        sentence has fewer than `MIN_TERMS` of them."""
        terms = self.terms(sentence)
        if len(terms) < MIN_TERMS:
            return None
        weights = [NUMBER_WEIGHT if t.isdigit() else 1.0 for t in terms]
        found = sum(w for t, w in zip(terms, weights, strict=True) if _in_any(t, sources))
        return found / sum(weights)

    def missing(self, sentence: str, sources: Sequence[SourceText]) -> list[str]:
        """The sentence's content words no source contains (for logs and tests)."""
        return [t for t in self.terms(sentence) if not _in_any(t, sources)]


def _whole_numbers(text: str) -> str:
    return _NUMBER_RE.sub(lambda m: re.sub(r"[.,]", "", m.group(0)), text)


def _in_any(term: str, sources: Sequence[SourceText]) -> bool:
    return any(s.contains(term) for s in sources)


def is_supported(score: float | None) -> bool:
    """Unjudged (too short) sentences pass; judged ones need `SUPPORTED`."""
    return score is None or score >= SUPPORTED
