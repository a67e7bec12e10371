"""Answers and the extractive composer (the embedded default, and the LLM's fallback)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from rag import messages_nl as nl
from rag.lexicon import Lexicon, load_lexicon
from rag.passages import PASSAGE_TOLERANCE, Passage
from rag.retrieval import Retrieval
from rag.store import EpisodeInfo
from rag.text import readable
from rag.transcripts import where_note
from rag.types import AnswerMode, FallbackReason, Turn, Verdict

# Further passages are shown only when they score nearly as well as the best one
# (`PASSAGE_TOLERANCE`) and come from elsewhere (about 60 words of captions away at least).
ELSEWHERE_CHARS = 400


# "meer", "vertel meer", "nog meer?", "ga door": more passages on the question before.
ASKS_MORE = re.compile(
    r"^\W*(?:en\s+)?(?:(?:wat|is\s+er)\s+)?(?:(?:vertel|zeg|laat)\s+(?:eens\s+|nog\s+|me\s+)*)?"
    r"(?:nog\s+)?(?:meer|verder)(?:\s+(?:info|informatie|daarover|hierover|erover|fragmenten|"
    r"graag|zien|weten))*\W*$"
    r"|^\W*(?:ga|gaat)\s+(?:maar\s+|nog\s+)?(?:door|verder)\W*$",
    re.IGNORECASE,
)


def asks_more(message: str) -> bool:
    """Whether `message` only asks for more on the question before it."""
    return ASKS_MORE.match(message) is not None


# "In welke aflevering ging het over …?", "Waar hadden ze het over …?", "Waar kwam …
# ter sprake?": the answer opens with the episode and the moment ("Waar heeft Rick
# gestudeerd?" and "Waar irriteert Rick zich aan?" ask something else).
ASKS_WHERE = re.compile(
    r"\b(?:welke|wat\s+voor)\s+aflevering(?:en)?\b"
    r"|^\s*waar\s+(?:hadden|hebben|had|heeft|praten|praatten|praatte|praat|spraken|spreken"
    r"|sprak|spreekt)\b.*\bover\b"
    r"|^\s*waar\b.*\bter\s+sprake\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass
class Citation:
    """What an `[n]` marker points at."""

    n: int
    episode_id: str
    title: str
    url: str | None
    source_file: str
    start_char: int
    end_char: int
    start_time: float | None
    quote: str
    # Share of the episode's words before the quote (0-1): where it stands when the
    # transcript has no times.
    position: float | None = None


@dataclass
class SentenceSupport:
    """How far the fragments an LLM answer's sentence cites support it (`rag.support`)."""

    sentence: str  # as the model wrote it, without markers
    fragments: list[int]  # ranks of the cited fragments (`RetrievedFragment.rank`)
    score: float | None  # share of its content words in those fragments; None: too short
    supported: bool  # False: removed from the answer (or the answer was not used)


@dataclass
class RetrievedFragment:
    """A fragment given to the composer, in rank order."""

    rank: int
    episode_id: str
    source_file: str
    start_char: int
    end_char: int
    score: float


@dataclass
class Composed:
    text: str
    found: bool
    citations: list[Citation]
    mode: AnswerMode
    note: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    dropped_markers: int = 0  # `[n]` the LLM wrote that named no given fragment
    # The LLM's cited sentences as checked; None when no LLM answer was checked.
    support: list[SentenceSupport] | None = None
    # Set when an LLM answer was replaced by the extractive one (with the note).
    fallback: FallbackReason | None = None


@dataclass
class Answer:
    """What every front end gets back from `AnswerService.ask`."""

    question: str
    text: str
    found: bool
    mode: AnswerMode
    citations: list[Citation]
    retrieved: list[RetrievedFragment]
    timings_ms: dict[str, float]
    verdict: Verdict = Verdict.NOT_FOUND
    search_query: str | None = None
    note: str | None = None
    usage: dict[str, int] = field(default_factory=dict)  # prompt/completion/total tokens
    dropped_markers: int = 0
    verdict_score: float | None = None  # the embedder's best passage score
    # The reranker's best passage score (`rag.rerank`); the verdict reads it instead when
    # its cut-offs are set (`RERANK_FOUND_SCORE`, `RERANK_UNSURE_SCORE`).
    rerank_score: float | None = None
    missing_quantity: bool = False  # not found whatever the score (`rag.answer_type`)
    support: list[SentenceSupport] | None = None  # see `Composed.support`
    fallback: FallbackReason | None = None  # see `Composed.fallback`

    def to_json(self) -> dict[str, Any]:
        """The machine-readable contract of `aireport ask --json` (plain strings)."""
        return {
            "question": self.question,
            "answer": self.text,
            "found": self.found,
            "verdict": str(self.verdict),
            "mode": str(self.mode),
            "citations": [asdict(c) for c in self.citations],
            "retrieved": [asdict(r) for r in self.retrieved],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "support": None if self.support is None else [asdict(s) for s in self.support],
        }


class Composer(Protocol):
    """Writes the answer from retrieved fragments (`ExtractiveComposer`, `rag.llm.LLMComposer`)."""

    mode: AnswerMode

    def compose(
        self,
        retrieval: Retrieval,
        history: Sequence[Turn] | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Composed:
        """Answer from `retrieval`; a streaming composer calls `on_delta(text so far)`."""
        ...


def pick_passages(
    retrieval: Retrieval,
    limit: int,
    seen: Callable[[Passage], bool] | None = None,
    tolerance: float | None = PASSAGE_TOLERANCE,
) -> list[Passage]:
    """The best passage, then others close in score from another part of the archive.

    A further passage is worth showing only when it adds something: it scores within
    `tolerance` of the best and stands at least `ELSEWHERE_CHARS` away from every
    passage already picked (or in another episode). Passages the reader has `seen`
    (in the previous answer) are skipped; the others must still score within the
    tolerance of the best of all. Without a tolerance (the reader asked for more) the
    next best are taken."""
    picked: list[Passage] = []
    best = retrieval.passages[0].score if retrieval.passages else 0.0
    for p in retrieval.passages:
        if len(picked) >= limit or (tolerance is not None and p.score < best - tolerance):
            break
        if seen is not None and seen(p):
            continue
        if not any(p.near(q, ELSEWHERE_CHARS) for q in picked):
            picked.append(p)
    return picked


SHINGLE_WORDS = 6


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def _mostly_in(text: str, shown: set[tuple[str, ...]]) -> bool:
    """Whether a third or more of `text`'s 6-word runs were `shown` (an overlapping
    window of a passage shown before reads as the same passage)."""
    own = _shingles(text)
    return bool(own and shown) and len(own & shown) * 3 >= len(own)


def _shown_before(history: Sequence[Turn] | None, more: bool) -> list[Turn]:
    """The turns whose passages a follow-up skips: the previous one; for a request for
    more, also those it followed ("meer", then "nog meer")."""
    if not history:
        return []
    shown = [history[-1]]
    while more and asks_more(shown[-1].question) and len(shown) < len(history):
        shown.append(history[-1 - len(shown)])
    return shown


def span_citation(
    n: int,
    episode: EpisodeInfo,
    start_char: int,
    end_char: int,
    start_time: float | None,
    quote: str,
    word: int,
) -> Citation:
    """A citation of `quote`, standing at `start_char`-`end_char` of the episode's file
    and beginning at its word number `word`."""
    return Citation(
        n=n,
        episode_id=episode.id,
        title=episode.title,
        url=episode.link(start_time),
        source_file=episode.source_file,
        start_char=start_char,
        end_char=end_char,
        start_time=start_time,
        quote=quote,
        position=round(word / episode.words, 4) if episode.words else None,
    )


def passage_citation(n: int, ex: Passage) -> Citation:
    return span_citation(
        n, ex.fragment.episode, ex.start_char, ex.end_char, ex.start_time, ex.quote, ex.word
    )


class ExtractiveComposer:
    """A short Dutch answer made of the passages that match the question best.

    The passage that answers leads, cleaned for reading (`rag.text.readable`: no
    fillers or stutters, names spelled as in the lexicon); a second or third passage
    follows only when it comes from elsewhere and scores nearly as well. Citation
    quotes stay verbatim."""

    mode = AnswerMode.EXTRACTIVE

    def __init__(self, max_excerpts: int = 3, lexicon: Lexicon | None = None) -> None:
        self.max_excerpts = max_excerpts
        self.lexicon = lexicon or load_lexicon()

    def display(self, quote: str) -> str:
        return readable(quote, self.lexicon.fix_spelling)

    def compose(
        self,
        retrieval: Retrieval,
        history: Sequence[Turn] | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Composed:
        if retrieval.verdict is Verdict.NOT_FOUND or not retrieval.fragments:
            return Composed(self._not_found(retrieval), False, [], self.mode)
        unsure = retrieval.verdict is Verdict.UNSURE
        more = bool(history) and asks_more(retrieval.question)
        before = " ".join(t.answer for t in _shown_before(history, more))
        shown = _shingles(before)
        excerpts = pick_passages(
            retrieval,
            self.max_excerpts,
            (lambda p: _mostly_in(self.display(p.quote), shown)) if shown else None,
            None if more else PASSAGE_TOLERANCE,
        )
        # A follow-up whose best passages were all in the previous answer: say so.
        if not excerpts and before and (earlier := pick_passages(retrieval, 1)):
            return Composed(nl.NOTHING_NEW, True, [passage_citation(1, earlier[0])], self.mode)
        citations = [passage_citation(n, ex) for n, ex in enumerate(excerpts, start=1)]
        intro = nl.EXTRACTIVE_MORE_INTRO if more else nl.EXTRACTIVE_FOUND_INTRO
        lines = [nl.EXTRACTIVE_UNSURE_INTRO if unsure else intro]
        if not unsure and citations and ASKS_WHERE.search(retrieval.question):
            lead = citations[0]
            moment = where_note(lead.start_time, lead.position)
            lines = [nl.EXTRACTIVE_WHERE_INTRO.format(title=lead.title, moment=moment)]
        lead_episode = excerpts[0].fragment.episode.id if excerpts else None
        for ex, c in zip(excerpts, citations, strict=True):
            quote = f"“{self.display(ex.quote)}” [{c.n}]"
            if c.n == 1:
                lines.append(quote)
            elif ex.fragment.episode.id == lead_episode:
                lines.append(f"{nl.EXTRACTIVE_ELSEWHERE} {quote}")
            else:
                lines.append(f"{nl.EXTRACTIVE_OTHER_EPISODE} {quote}")
        return Composed("\n".join(lines), True, citations, self.mode)

    def _not_found(self, retrieval: Retrieval) -> str:
        nearest = pick_passages(retrieval, 1) if retrieval.fragments else []
        if not nearest:
            return nl.NOT_FOUND
        ex = nearest[0]
        words = self.display(ex.quote).rstrip("…").split()
        return nl.NOT_FOUND_NEAREST.format(
            title=ex.fragment.episode.title, excerpt=" ".join(words[:20])
        )
