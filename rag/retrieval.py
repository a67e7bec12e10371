"""Hybrid retrieval: dense (chunks and their units) + BM25, fused by reciprocal rank.

Three rankings of the chunks are fused: the chunk's own embedding, the best of
its ~40-word units (sharp on short, specific passages) and BM25 over
Dutch-stemmed tokens (exact names and numbers). The best fragments are taken
in fused order within a word budget, spread over episodes when several
compete. A verdict says whether the archive answers the question at all.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.chunking import Chunk, Unit
from rag.embeddings import embed_query
from rag.index import EpisodeInfo, SearchIndex
from rag.passages import Passage, locate_passages
from rag.text import search_tokens

RRF_K = 60
# Each chunk already taken from an episode lowers the next one from it by this factor.
EPISODE_DIVERSITY = 0.8


class Verdict(StrEnum):
    FOUND = "found"
    UNSURE = "unsure"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class VerdictThresholds:
    """Best passage score (see `rag.passages`) needed to answer (found) or to offer
    the nearest passage with a hedge (unsure). e5 cosines sit in a narrow band
    (0.82-0.97 on the sample); the cut-offs were read off the dev set's answerable
    and unanswerable questions (README, "Evaluation"). They depend on the embedder,
    so they are settings."""

    found_score: float = 0.885
    unsure_score: float = 0.85


@dataclass
class Fragment:
    """A chunk given to the composer, with the scores that ranked it."""

    rank: int
    chunk: Chunk
    episode: EpisodeInfo
    score: float
    unit_rows: list[int]
    unit_scores: list[float]


@dataclass
class Retrieval:
    question: str
    query: str
    fragments: list[Fragment]
    verdict: Verdict
    best_score: float  # of the best passage: cosine plus question words
    query_terms: list[str]
    term_weights: dict[str, float] = field(default_factory=dict)  # idf of known terms
    passages: list[Passage] = field(default_factory=list)
    search_seconds: float = 0.0  # hybrid search only; `seconds` adds passage scoring
    units: list[Unit] = field(repr=False, default_factory=list)
    seconds: float = 0.0


def _one_edit_apart(a: str, b: str) -> bool:
    """True when one substitution, insertion or deletion turns `a` into `b`."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def asr_variants(term: str, vocab: set[str]) -> list[str]:
    """Corpus terms an unknown query term may have become in auto-captions.

    Captions garble names and long words: "quantisatie" -> "quanti", "Groq" -> "grok",
    "DeepSeek" -> "deep seek". A term missing from the index is matched to known
    terms that it starts with (5+ letters), one edit away (4+ letters), or two known
    terms written together.
    """
    if term in vocab or len(term) < 4 or term.isdigit():
        return []
    found = [v for v in vocab if len(v) >= 5 and term.startswith(v)]
    found += [v for v in vocab if v[0] == term[0] and _one_edit_apart(term, v)]
    for cut in range(3, len(term) - 2):
        head, tail = term[:cut], term[cut:]
        if head in vocab and tail in vocab:
            found += [head, tail]
    return sorted(set(found))


def _ranks(scores: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Rank position of each item (0 = best); invalid items rank last."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(len(scores))
    if valid is not None:
        ranks[~valid] = len(scores) * 10
    return ranks


class HybridRetriever:
    """Find the fragments of the index that answer a question."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embeddings,
        context_words: int = 1500,
        max_fragments: int = 6,
        thresholds: VerdictThresholds | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.context_words = context_words
        self.max_fragments = max_fragments
        self.thresholds = thresholds or VerdictThresholds()
        self._unit_matrix = index.unit_vector_matrix()
        self._unit_chunk_rows = [list(index.chunk_unit_rows(c)) for c in index.chunks]
        vocab = index.bm25.vocab_dict if index.bm25 is not None else {}
        self._vocab = {t for t in vocab if len(t) > 1 or t.isdigit()}
        self._idf = self._inverse_document_frequencies()

    def retrieve(self, question: str, query: str | None = None) -> Retrieval:
        """Rank chunks for `query` (default: the question) and decide found / not found."""
        started = time.perf_counter()
        query = query or question
        own = search_tokens(query)
        terms = self.expand(own)
        if not self.index.chunks:
            return Retrieval(question, query, [], Verdict.NOT_FOUND, 0.0, terms)
        qv = embed_query(self.embedder, query)
        unit_sims = self._unit_matrix @ qv
        fused = self._fuse(qv, unit_sims, terms)
        fragments = self._select(fused, unit_sims)
        searched = time.perf_counter()
        weights = {t: self._idf[t] for t in terms if t in self._idf}
        # Caption spellings of unknown words help the embedder place passages
        # ("quantisatie" is "quanti" in the captions).
        variants = [t for t in terms if t not in own]
        pv = embed_query(self.embedder, " ".join([query, *variants])) if variants else qv
        passages = locate_passages(fragments, self.index.units, pv, weights, self.embedder)
        best = passages[0].score if passages else 0.0
        verdict = self._verdict(best)
        return Retrieval(
            question,
            query,
            fragments,
            verdict,
            best,
            terms,
            term_weights=weights,
            passages=passages,
            search_seconds=searched - started,
            units=self.index.units,
            seconds=time.perf_counter() - started,
        )

    def _inverse_document_frequencies(self) -> dict[str, float]:
        """BM25's idf per term, from the chunk counts in its term-major score matrix."""
        if self.index.bm25 is None:
            return {}
        indptr = np.asarray(self.index.bm25.scores["indptr"])
        n_docs = len(self.index.chunks)
        return {
            term: math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
            for term, k in self.index.bm25.vocab_dict.items()
            if term in self._vocab
            for df in [int(indptr[k + 1] - indptr[k])]
        }

    def expand(self, terms: list[str]) -> list[str]:
        """Query terms plus their likely auto-caption spellings, without repeats."""
        expanded = [v for t in terms for v in (t, *asr_variants(t, self._vocab))]
        return list(dict.fromkeys(expanded))

    def _fuse(self, qv: np.ndarray, unit_sims: np.ndarray, terms: list[str]) -> np.ndarray:
        n = len(self.index.chunks)
        dense, ids = self.index.chunk_vectors.search(qv.reshape(1, -1), n)
        chunk_sims = np.full(n, -1.0)
        chunk_sims[ids[0]] = dense[0]
        unit_max = np.array([unit_sims[rows].max() for rows in self._unit_chunk_rows])
        fused = 1 / (RRF_K + _ranks(chunk_sims)) + 1 / (RRF_K + _ranks(unit_max))
        known = [t for t in terms if t in self._vocab]
        if known and self.index.bm25 is not None:
            bm25 = np.asarray(self.index.bm25.get_scores(known), dtype=np.float64)
            fused += 1 / (RRF_K + _ranks(bm25, valid=bm25 > 0))
        return fused

    def _select(self, fused: np.ndarray, unit_sims: np.ndarray) -> list[Fragment]:
        """Take chunks by fused score within the word budget, spreading over episodes."""
        chunks = self.index.chunks
        taken: list[int] = []
        per_episode: dict[str, int] = {}
        words = 0
        # A max-heap of (penalised score, chunk, how many of its episode's chunks were
        # taken when the score was computed); stale entries are re-scored lazily, so
        # this stays O(n log n) on a large archive.
        heap = [(-float(fused[i]), i, 0) for i in range(len(chunks))]
        heapq.heapify(heap)
        while heap and len(taken) < self.max_fragments:
            _, best, seen = heapq.heappop(heap)
            episode = chunks[best].episode_id
            count = per_episode.get(episode, 0)
            if seen != count:
                heapq.heappush(heap, (-float(fused[best]) * EPISODE_DIVERSITY**count, best, count))
                continue
            new_words = self._new_words(best, taken)
            if taken and words + new_words > self.context_words:
                continue
            taken.append(best)
            words += new_words
            per_episode[episode] = count + 1
        return [
            Fragment(
                rank=rank,
                chunk=chunks[i],
                episode=self.index.episodes[chunks[i].episode_id],
                score=float(fused[i]),
                unit_rows=self._unit_chunk_rows[i],
                unit_scores=[float(unit_sims[r]) for r in self._unit_chunk_rows[i]],
            )
            for rank, i in enumerate(taken, start=1)
        ]

    def _new_words(self, candidate: int, taken: list[int]) -> int:
        """Words `candidate` adds to the context: overlap with taken chunks is free."""
        rows = set(self._unit_chunk_rows[candidate])
        for other in taken:
            rows -= set(self._unit_chunk_rows[other])
        return sum(len(self.index.units[r].text.split()) for r in rows)

    def _verdict(self, best: float) -> Verdict:
        t = self.thresholds
        if best >= t.found_score:
            return Verdict.FOUND
        if best >= t.unsure_score:
            return Verdict.UNSURE
        return Verdict.NOT_FOUND
