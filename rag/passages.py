"""Retrieved fragments, and the passages inside them that answer the question.

Auto-captions have no sentences, so a passage is a ~60-word window. Each unit
of the retrieved fragments proposes the window around it that holds most of
the question's words (weighted by idf), and the same window moved forward
(answers tend to follow the words of the question); all are scored by cosine
plus those words. A window's vector is pooled from the index's unit vectors, so
placing passages embeds nothing (dev, 5 folds: the held-out verdict rates equal
those of embedding the best eight windows, at 87 instead of 600 ms a question).
The best passage score is also the evidence for the found / not-found verdict.

An episode's intro, up to the music that follows it, announces the episode's topics in
a few words each: it matches many questions and answers few, so its passages give way
to any other (`outside_intro`). On dev it led 9 of 125 answers, and none held the
evidence; without it (5 folds, cut-offs fitted on the other four): unanswerable
questions refused 0.455 -> 0.500, answerable doubted unchanged (0.136), key facts
0.617 -> 0.626, the verdict score's AUC 0.69 -> 0.71; no fold worse.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from rag.chunking import Chunk, Unit
from rag.store import EpisodeInfo
from rag.text import MARKER_RE, search_tokens

PASSAGE_WORDS = 60
WINDOW_STEP = 5
# Score = cosine + LEXICAL_WEIGHT * share of the question's idf weight in the window.
# Cosines of candidate windows differ by a few hundredths; the question's rare words
# (names, numbers) break near-ties without overruling the meaning.
LEXICAL_WEIGHT = 0.05
FORWARD_SHIFT = 20
# Passages within this much of the best score count as nearly as good: further ones
# are shown only then (`rag.answer.pick_passages`), and one holding the number a
# question asks for may lead (`rag.answer_type`).
PASSAGE_TOLERANCE = 0.05
# An intro (cold open, topic list, "veel plezier") ends with the first sound marker
# ("[Muziek]") within this many words of the episode's start; a later one is a break.
INTRO_MAX_WORDS = 400


@dataclass
class Fragment:
    """A chunk given to the composer, with the scores that ranked it."""

    rank: int
    chunk: Chunk
    episode: EpisodeInfo
    score: float
    unit_rows: list[int]
    unit_scores: list[float]
    # Words before the first unit (the end of the unit before it: `rag.retrieval`'s
    # lead-in): context for the reader, not part of any passage.
    lead_words: int = 0


@dataclass
class Passage:
    """A quotable window of a fragment, with source offsets and its score."""

    fragment: Fragment
    first: int  # word positions within the fragment's chunk
    last: int
    start_char: int
    end_char: int
    start_time: float | None
    quote: str
    score: float  # how well it answers: orders the passages
    verdict: float = 0.0  # the same against the whole question: the found / not-found evidence
    word: int = 0  # position of its first word in the episode

    def overlaps(self, other: Passage) -> bool:
        return self.near(other, 0)

    def reach(self) -> str:
        """The passage's words and the `FORWARD_SHIFT` words after it in its fragment:
        answers follow the words of the question, and may run on past the window."""
        words = self.fragment.chunk.text.split()[self.fragment.lead_words :]
        return " ".join(words[self.first : self.last + FORWARD_SHIFT])

    def near(self, other: Passage, gap: int) -> bool:
        """Same episode and less than `gap` characters apart (overlapping: gap 0)."""
        same = self.fragment.chunk.episode_id == other.fragment.chunk.episode_id
        return (
            same
            and self.start_char < other.end_char + gap
            and other.start_char < self.end_char + gap
        )


@functools.lru_cache(maxsize=8192)
def word_stems(text: str) -> tuple[frozenset[str], ...]:
    """Search tokens of each word of a unit's text (units recur across questions)."""
    return tuple(frozenset(search_tokens(word)) for word in text.split())


class ChunkWords:
    """Word positions of one fragment's chunk, mapped back to units and source offsets."""

    def __init__(self, fragment: Fragment, units: list[Unit]) -> None:
        self.fragment = fragment
        chunk = fragment.chunk
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", chunk.text)]
        self.spans = spans[fragment.lead_words :]  # the lead-in is context, not a passage
        self.units = [units[r] for r in fragment.unit_rows]
        self.stems = [stems for unit in self.units for stems in word_stems(unit.text)]
        if len(self.stems) != len(self.spans):  # units not split on whitespace alone
            self.stems = [frozenset(search_tokens(chunk.text[a:b])) for a, b in self.spans]
        self.unit_of_word: list[int] = []
        for i, unit in enumerate(self.units):
            self.unit_of_word += [i] * (unit.last_word - unit.first_word)
        self.timestamped = chunk.start_time is not None

    def text(self, first: int, last: int) -> str:
        return self.fragment.chunk.text[self.spans[first][0] : self.spans[last - 1][1]]

    def lexical(self, first: int, last: int, weights: dict[str, float]) -> float:
        """Share of the question's term weight present in words[first:last]."""
        total = sum(weights.values())
        if not total:
            return 0.0
        present = set().union(*self.stems[first:last])
        return sum(w for t, w in weights.items() if t in present) / total

    def best_window(self, local_unit: int, weights: dict[str, float]) -> tuple[int, int]:
        """The window near `local_unit` (it and its neighbours) with most question weight."""
        lo = self.unit_of_word.index(max(0, local_unit - 1))
        hi_unit = min(len(self.units) - 1, local_unit + 1)
        hi = len(self.unit_of_word) - self.unit_of_word[::-1].index(hi_unit)
        center = self.unit_of_word.index(local_unit)
        best, best_key = (lo, min(hi, lo + PASSAGE_WORDS)), (-1.0, 0)
        for first in range(lo, max(lo + 1, hi - PASSAGE_WORDS + 1), WINDOW_STEP):
            last = min(hi, first + PASSAGE_WORDS)
            key = (self.lexical(first, last, weights), -abs(first - center))
            if key > best_key:
                best, best_key = (first, last), key
        return best

    def passage(self, first: int, last: int, score: float, verdict: float) -> Passage:
        chunk = self.fragment.chunk
        head = self.units[self.unit_of_word[first]]
        tail = self.units[self.unit_of_word[last - 1]]
        if self.timestamped:  # joined cue words: cite the covering units' source span
            start, end = head.start_char, tail.end_char
        else:
            start = chunk.start_char + self.spans[first][0]
            end = chunk.start_char + self.spans[last - 1][1]
        quote = self.text(first, last)
        word = self.units[0].first_word + first  # a chunk's words are its units' words
        return Passage(
            self.fragment, first, last, start, end, head.start_time, quote, score, verdict, word
        )


def window_vector(cw: ChunkWords, first: int, last: int, unit_matrix: np.ndarray) -> np.ndarray:
    """A window's vector: the vectors of the units it overlaps, weighted by its words in
    each, summed and normalised. Nothing is embedded per question."""
    counts = np.bincount(cw.unit_of_word[first:last], minlength=len(cw.units))
    rows = [cw.fragment.unit_rows[i] for i in np.flatnonzero(counts)]
    pooled = counts[counts > 0].astype(np.float32) @ unit_matrix[rows]
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def locate_passages(
    fragments: list[Fragment],
    units: list[Unit],
    unit_matrix: np.ndarray,
    query_vector: np.ndarray,
    weights: dict[str, float],
    verdict_by: tuple[np.ndarray, dict[str, float]] | None = None,
) -> list[Passage]:
    """Candidate passages of the fragments, best first (they may overlap).

    Every unit proposes its best window and the same window moved forward; each is
    scored against `query_vector`/`weights` (`score`) and against `verdict_by`
    (`verdict`; the same vector and weights when not given). Window vectors are pooled
    from the index's unit vectors (`unit_matrix`), rows as in `units`."""
    words = {f.rank: ChunkWords(f, units) for f in fragments}
    candidates: dict[tuple[int, tuple[int, int]], None] = {}
    for f in fragments:
        cw = words[f.rank]
        for local_unit in range(len(f.unit_rows)):
            first, last = cw.best_window(local_unit, weights)
            shift = min(FORWARD_SHIFT, len(cw.spans) - last)
            candidates[f.rank, (first, last)] = None
            candidates[f.rank, (first + shift, last + shift)] = None
    if not candidates:
        return []
    vectors = np.vstack([window_vector(words[r], *w, unit_matrix) for r, w in candidates])
    verdict_vector, verdict_weights = verdict_by or (query_vector, weights)
    passages = []
    for (rank, window), sim, vsim in zip(
        list(candidates), vectors @ query_vector, vectors @ verdict_vector, strict=True
    ):
        cw = words[rank]
        score = float(sim) + LEXICAL_WEIGHT * cw.lexical(*window, weights)
        verdict = float(vsim) + LEXICAL_WEIGHT * cw.lexical(*window, verdict_weights)
        passages.append(cw.passage(*window, score, verdict))
    return sorted(passages, key=lambda p: p.score, reverse=True)


def intro_ends(units: list[Unit]) -> dict[str, int]:
    """Per episode with an intro, the source offset where its intro ends: the first
    sound marker within its first `INTRO_MAX_WORDS` words (`units` in episode order)."""
    ends: dict[str, int] = {}
    words: dict[str, int] = {}
    for unit in units:
        seen = words.get(unit.episode_id, 0)
        if unit.episode_id in ends or seen > INTRO_MAX_WORDS:
            continue
        marker = MARKER_RE.search(unit.text)
        if marker:
            ends[unit.episode_id] = min(unit.start_char + marker.start(), unit.end_char)
        words[unit.episode_id] = seen + len(unit.text.split())
    return ends


def in_intro(episode_id: str, end_char: int, ends: dict[str, int]) -> bool:
    """Whether a span of the episode ending at `end_char` lies wholly inside its intro
    (`ends` from `intro_ends`)."""
    return end_char <= ends.get(episode_id, -1)


def outside_intro(passages: list[Passage], ends: dict[str, int]) -> list[Passage]:
    """`passages` without those that lie wholly inside their episode's intro, unless
    no other is left (a passage that runs on past the intro stays)."""
    kept = [p for p in passages if not in_intro(p.fragment.chunk.episode_id, p.end_char, ends)]
    return kept or passages
