"""Hybrid retrieval: dense + BM25 over ~40-word units and their ~320-word chunks.

Units are ranked by reciprocal rank fusion of five signals (see `HybridRetriever`),
grown into short windows and taken within a word budget; when the archive holds many
episodes, those that clearly hold the answer are searched among themselves. A
verdict says whether the archive answers the question at all.

Measured on eval/dev.jsonl (recall of the evidence within 1,500 words, 5 folds):
whole chunks fused as before 0.78; units with windows 0.87; windows of the hit and
the next unit beat one unit either side on every fold; k=20 beats 60. Not kept, as
they did not win on the folds: splitting multi-part questions into sub-queries,
pseudo-relevance feedback, pooled neighbour vectors, weighted signals.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.answer_type import asks_quantity, has_quantity, lead_with_quantity
from rag.chunking import Chunk, Unit, join_units
from rag.embeddings import as_embedder, embed_query
from rag.lexicon import Lexicon
from rag.passages import (
    Fragment,
    Passage,
    in_intro,
    intro_ends,
    locate_passages,
    outside_intro,
)
from rag.rerank import Reranker, reorder
from rag.speakers import Speakers
from rag.store import SearchIndex
from rag.text import search_tokens
from rag.types import Verdict

# Reciprocal rank fusion: score = sum of 1 / (RRF_K + rank). A smaller k than the usual
# 60 lets a unit that one signal ranks near the top compete with units that all signals
# rank middling (dev, 5 folds: recall 0.871 at k=20 against 0.839 at 60).
RRF_K = 20
FOCUS_UNITS = 50
FOCUS_RATIO = 0.7
# Caption spellings of unknown query terms (`asr_variants`): minimum lengths, and caps
# that bound the work per question.
ASR_MIN_TERM = 4
ASR_MIN_PREFIX = 5
ASR_MAX_TERMS = 12
ASR_MAX_VARIANTS = 10
QUERY_CACHE = 4096  # query vectors kept, 1.5 KB each
# Each signal ranks its best RANK_DEPTH units (and chunks); the rest count as unranked,
# as in RRF over top-k lists. Ordering only the top halves the fusion's cost on a
# 75,000-unit archive (retrieval without the query embedding: 28 -> 14 ms). Measured on
# eval/dev.jsonl with 30 distractor episodes (2,048 units): depth 1,000 gives the same
# recall, MRR and verdicts as ranking everything; depth 300 loses a span.
RANK_DEPTH = 1000
# Without chunk vectors (CHUNK_VECTORS=none), whether a unit's surroundings are on topic
# is the mean cosine of the units up to NEIGHBOURS away (within its episode): 5 units,
# ~200 words. Dev, 5 folds, 1,500 words of context: recall 0.871 as with embedded chunks
# (one fold a span more, one a span less); 1 or 3 neighbours lost spans on every fold
# where they differed. At 3,000 words (an LLM's context) it lost a span on dev (0.911 ->
# 0.903), so embedded chunks stay the default.
NEIGHBOURS = 2
# Units are cut every 40 words, not at sentences, and the words that answer a question
# often begin a few words before the unit that matched: each fragment also takes in the
# last LEAD_WORDS words of the unit before it (within its episode), counted in the budget.
# Passages are still placed in the ranked units only; the lead-in is context. Dev, 5
# folds, evidence spans wholly inside one fragment, summed over four budgets (500, 1,000,
# 1,500, 3,000 words): 391 -> 401 (four folds better, none worse); spans at least half
# inside: 419 -> 417 (one fold +3, two -2 and -3). See README, "Lead-in".
LEAD_WORDS = 10
# With a reranker (`rag.rerank`, optional): the windows of twice the context are
# reordered by it and the context is filled in its order; of the candidate passages, the
# best RERANK_PASSAGES by the embedder are reordered by it, so its best leads the answer.
# Not measured: no reranker is reachable here (README, "Reranker").
RERANK_POOL = 2
RERANK_PASSAGES = 10


@dataclass(frozen=True)
class VerdictThresholds:
    """Best passage score (see `rag.passages`) needed to answer (found) or to offer
    the nearest passage with a hedge (unsure). e5 cosines sit in a narrow band
    (0.82-0.97 on the sample); `rag.calibration` fits the cut-offs on the dev set
    and checks them on held-out folds. They depend on the embedder, so they are
    settings."""

    found_score: float = 0.882
    unsure_score: float = 0.863


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
    # A number or moment is asked for and the best passage has none (`rag.answer_type`):
    # the verdict is one step below what `best_score` says.
    missing_quantity: bool = False
    search_seconds: float = 0.0  # hybrid search only; `seconds` adds passage scoring
    units: list[Unit] = field(repr=False, default_factory=list)
    seconds: float = 0.0
    reranked: bool = False  # the context and passages were ordered by the reranker
    rerank_score: float | None = None  # the reranker's best passage score


def _one_edit_apart(a: str, b: str) -> bool:
    """True when one substitution, insertion or deletion turns `a` into `b`."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class AsrIndex:
    """A vocabulary indexed for `asr_variants`, built once per retriever.

    Terms are bucketed by first letter and length, so an unknown term is compared only
    with the terms that can be one edit away (same first letter, length within one)
    instead of with the whole vocabulary; prefixes and splits are set lookups.
    """

    def __init__(self, vocab: Iterable[str]) -> None:
        self.terms = frozenset(vocab)
        self.longest = max(map(len, self.terms), default=0)
        self._buckets: dict[tuple[str, int], list[str]] = defaultdict(list)
        for t in self.terms:
            if t:
                self._buckets[t[0], len(t)].append(t)

    def __contains__(self, term: str) -> bool:
        return term in self.terms

    def prefixes(self, term: str) -> list[str]:
        """Known terms of 5+ letters that `term` starts with."""
        top = min(len(term), self.longest)
        return [term[:n] for n in range(ASR_MIN_PREFIX, top + 1) if term[:n] in self.terms]

    def one_edit(self, term: str) -> list[str]:
        """Known terms with `term`'s first letter, one edit away from it."""
        n = len(term)
        buckets = (self._buckets.get((term[0], size), ()) for size in (n - 1, n, n + 1))
        return [v for bucket in buckets for v in bucket if _one_edit_apart(term, v)]

    def splits(self, term: str) -> list[str]:
        """Two known terms (3+ letters, then the rest) that `term` writes together; the
        first may carry Dutch's linking "s" (bedrijfs|data, nieuws|platform), and the
        rest then has 4+ letters (quantis|eer is no compound)."""
        n = len(term)
        found: list[str] = []
        for cut in range(max(3, n - self.longest), min(n - 2, self.longest + 2)):
            head, tail = term[:cut], term[cut:]
            if tail not in self.terms:
                continue
            if head in self.terms:
                found += [head, tail]
            elif head.endswith("s") and head[:-1] in self.terms and len(tail) >= 4 and cut > 3:
                found += [head[:-1], tail]
        return found


def expandable(term: str, vocab: AsrIndex | set[str]) -> bool:
    """Whether `term` is unknown and long enough to look for caption spellings of it."""
    return term not in vocab and len(term) >= ASR_MIN_TERM and not term.isdigit()


def asr_variants(term: str, vocab: AsrIndex | set[str]) -> list[str]:
    """Corpus terms an unknown query term may have become in auto-captions.

    Captions garble names and long words: "quantisatie" -> "quanti", "Groq" -> "grok",
    "DeepSeek" -> "deep seek". A term missing from the index is matched to known
    terms that it starts with (5+ letters), one edit away (4+ letters, same first
    letter), or two known terms written together. Pass an `AsrIndex` when asking for
    many terms: a plain set is indexed on every call.
    """
    if not expandable(term, vocab):
        return []
    index = vocab if isinstance(vocab, AsrIndex) else AsrIndex(vocab)
    return sorted({*index.prefixes(term), *index.one_edit(term), *index.splits(term)})


def expand_terms(terms: Sequence[str], index: AsrIndex) -> list[str]:
    """`terms` plus their likely auto-caption spellings, without repeats.

    Only the first `ASR_MAX_TERMS` unknown terms are expanded, each with at most
    `ASR_MAX_VARIANTS` variants: a long question of made-up words must not cost
    seconds of CPU (dev questions have at most 5 unknown terms and 3 variants each)."""
    expanded: list[str] = []
    budget = ASR_MAX_TERMS
    for term in dict.fromkeys(terms):
        expanded.append(term)
        if budget and expandable(term, index):
            budget -= 1
            expanded += asr_variants(term, index)[:ASR_MAX_VARIANTS]
    return list(dict.fromkeys(expanded))


def rrf_scores(
    scores: np.ndarray, valid: np.ndarray | None, k: float, depth: int = RANK_DEPTH
) -> np.ndarray:
    """Reciprocal-rank contributions 1 / (k + rank) of the `depth` best valid items.

    Items below the depth, invalid ones (`valid` False or a score of -inf: not in a
    signal's top-k) contribute nothing, as in RRF over top-k result lists. Ties keep
    index order. Only the top is ordered (argpartition), not all 75,000 units."""
    usable = np.isfinite(scores)
    candidates = np.flatnonzero(usable if valid is None else usable & valid)
    out = np.zeros(len(scores))
    m = min(depth, len(candidates))
    if not m:
        return out
    values = -scores[candidates]
    top = np.arange(len(candidates))
    if m < len(candidates):
        top = np.sort(np.argpartition(values, m - 1)[:m])
    top = top[np.argsort(values[top], kind="stable")]
    out[candidates[top]] = 1.0 / (k + np.arange(m))
    return out


# "volgens Rick Lamers", "zegt Wietse": who said it, not what the passage is about.
ATTRIBUTION_RE = re.compile(
    r"\b(?:volgens|zegt|zei|vindt|vond|denkt|dacht|noemt|noemde)\s+"
    r"(?:(?:[A-Z][\w'-]*|de|van|der)\s*){1,3}(?=[\s,?.!]|$)"
)


def without_attribution(question: str) -> str:
    """The question without "volgens <Name>"-style attributions (for placing passages)."""
    stripped = " ".join(ATTRIBUTION_RE.sub(" ", question).split())
    return stripped if len(stripped.split()) >= 3 else question


@dataclass
class Window:
    """Consecutive unit rows of one episode, grown around the units that matched."""

    first: int
    last: int  # exclusive
    score: float


class HybridRetriever:
    """Find the fragments of the index that answer a question.

    Units (~40 words) are ranked by reciprocal rank fusion of five signals: the unit's
    own cosine and BM25, the cosine and BM25 of the best chunk (~320 words) holding it,
    and the mean cosine of the unit and its neighbours (~200 words), which say whether
    the surroundings are on topic too (without chunk vectors: four, no chunk cosine).
    The best units are grown
    into windows (the unit and the next one: "small-to-big"), merged when they touch,
    and taken until the word budget is spent, so the context holds several short,
    non-adjacent fragments instead of a few long ones. With several episodes, those that
    clearly hold the answer are searched among themselves (`_focus`). Extra queries
    (an LLM's search queries) are searched too; each unit keeps its best fused score.
    """

    rrf_k = RRF_K  # class attributes, so an experiment can vary them per instance
    rank_depth = RANK_DEPTH
    lead_words = LEAD_WORDS

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embeddings,
        context_words: int = 1500,
        max_fragments: int = 18,
        thresholds: VerdictThresholds | None = None,
        lexicon: Lexicon | None = None,
        window: tuple[int, int] = (0, 1),
        speakers: Speakers | None = None,
        reranker: Reranker | None = None,
        rerank_thresholds: VerdictThresholds | None = None,
    ) -> None:
        self.index = index
        self.reranker = reranker
        self.rerank_thresholds = rerank_thresholds
        self.embedder = as_embedder(embedder)
        self.context_words = context_words
        self.max_fragments = max_fragments
        self.thresholds = thresholds or VerdictThresholds()
        self.lexicon = lexicon or Lexicon()
        self.window = window
        # Hosts (bundled list) and the guests the episode titles name (`rag.speakers`).
        self.speakers = (speakers or Speakers([])).with_guests(
            (e.title for e in index.episodes.values()), [n.name for n in self.lexicon.names]
        )
        index.warm()
        self._unit_matrix = index.unit_matrix()  # also for pooling passage vectors
        self._chunk_dense = index.has_chunk_vectors
        self._unit_chunk_rows = [list(index.chunk_unit_rows(c)) for c in index.chunks]
        self._unit_words = np.array([len(u.text.split()) for u in index.units])
        self._chunks_of_unit = self._chunk_map()
        self._episode_span = self._episode_bounds()
        self._episode_starts = np.unique(self._episode_span[:, 0])
        self._episode_ends = np.unique(self._episode_span[:, 1])
        vocab = index.bm25_vocabulary()
        self._vocab = {t for t in vocab if len(t) > 1 or t.isdigit()}
        self._asr_index = AsrIndex(self._vocab)
        self._idf = self._inverse_document_frequencies()
        self._intro_ends = intro_ends(index.units)
        self._in_intro = np.array(
            [in_intro(u.episode_id, u.end_char, self._intro_ends) for u in index.units],
            dtype=bool,
        )
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _embed(self, text: str) -> np.ndarray:
        """The query vector of `text`; the last `QUERY_CACHE` texts are kept (a newsletter
        burst asks the same few questions many times)."""
        with self._cache_lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        vector = embed_query(self.embedder, text)
        vector.setflags(write=False)
        with self._cache_lock:
            self._query_vectors[text] = vector
            while len(self._query_vectors) > QUERY_CACHE:
                self._query_vectors.popitem(last=False)
        return vector

    def _chunk_map(self) -> np.ndarray:
        """(units x k) chunk rows holding each unit, padded with -1."""
        holders: list[list[int]] = [[] for _ in self.index.units]
        for c, rows in enumerate(self._unit_chunk_rows):
            for r in rows:
                holders[r].append(c)
        width = max((len(h) for h in holders), default=1) or 1
        table = np.full((len(holders), width), -1, dtype=np.int64)
        for r, h in enumerate(holders):
            table[r, : len(h)] = h
        return table

    def _episode_bounds(self) -> np.ndarray:
        """(units x 2): first and last+1 unit row of each unit's episode."""
        bounds = np.zeros((len(self.index.units), 2), dtype=np.int64)
        start = 0
        units = self.index.units
        for r in range(1, len(units) + 1):
            if r == len(units) or units[r].episode_id != units[start].episode_id:
                bounds[start:r] = (start, r)
                start = r
        return bounds

    @property
    def intro_ends(self) -> dict[str, int]:
        """Per episode with an intro, where it ends (`rag.passages.intro_ends`)."""
        return self._intro_ends

    def retrieve(
        self, question: str, query: str | None = None, extra_queries: Sequence[str] = ()
    ) -> Retrieval:
        """Rank fragments for `query` (default: the question) and decide found / not found.

        `extra_queries` (e.g. an LLM's search queries) are searched too and merged."""
        started = time.perf_counter()
        query = query or question
        # A question that names a host or the guest is searched without the names too:
        # where the guest is named, others talk about him (`rag.speakers`).
        plain = self.speakers.without(query)
        if plain != query:
            extra_queries = (*extra_queries, plain)
        variants = self.lexicon.variants(query)
        own = search_tokens(query)
        terms = self.expand(own + search_tokens(" ".join(variants)))
        if not self.index.chunks:
            return Retrieval(question, query, [], Verdict.NOT_FOUND, 0.0, terms)
        # Caption spellings of unknown words go into the query vector too ("quantisatie"
        # is "quanti" in the captions); one embedding serves search, passages and verdict.
        extra = [t for t in terms if t not in own]
        qv = self._embed(" ".join([query, *extra]))
        # The signals are computed once; with a focus only their ranking is redone.
        signals = self._signals(qv, terms)
        fused = self._fuse(signals)
        # The focus reads the fusion it was measured with (FOCUS_RATIO): without the
        # neighbours' cosine, which weighs the dense side more, look-alike episodes passed
        # its bar (tests/test_retrieval.py).
        focus = self._focus(self._fuse(signals[:-1]) if self._chunk_dense else fused)
        if focus is not None:
            fused = self._fuse(signals, focus)
        vectors = [qv]
        for other in [q for q in dict.fromkeys(extra_queries) if q != query]:
            other_terms = self.expand(search_tokens(other + " " + " ".join(variants)))
            ov = self._embed(other)
            fused = np.maximum(fused, self._fuse(self._signals(ov, other_terms), focus))
            vectors.append(ov)
        queries = np.vstack(vectors)
        reranked = self._reranked_fragments(query, fused, queries)
        fragments = reranked or self._fragments(self._windows(fused), queries)
        searched = time.perf_counter()
        weights = {t: self._idf[t] for t in terms if t in self._idf}
        # Passages are placed by what the question is about ("volgens Rick" would pull
        # towards wherever Rick is named); the verdict reads the whole question.
        topic = self.speakers.without(without_attribution(query))
        place, place_weights = qv, weights
        if topic != query:
            place = self._embed(" ".join([topic, *extra]))
            kept = set(search_tokens(topic)) | set(extra)
            place_weights = {t: w for t, w in weights.items() if t in kept}
        passages = locate_passages(
            fragments, self.index.units, self._unit_matrix, place, place_weights, (qv, weights)
        )
        passages = outside_intro(passages, self._intro_ends)
        rerank_score = None
        if reranked is not None:
            passages, rerank_score = self._reranked_passages(query, passages)
        best = max((p.verdict for p in passages), default=0.0)
        verdict = self._verdict(best)
        if rerank_score is not None and self.rerank_thresholds is not None:
            verdict = self._verdict(rerank_score, self.rerank_thresholds)
        missing_quantity = False
        if passages and asks_quantity(query):
            # A number or a moment is asked for: the passage that matches best (or the
            # words right after it) must hold one, or the archive does not answer; one
            # that holds one may lead the answer.
            best_passage = max(passages, key=lambda p: p.verdict)
            missing_quantity = not has_quantity(best_passage.reach(), query)
            if missing_quantity:
                verdict = Verdict.NOT_FOUND
            passages = lead_with_quantity(passages, query)
        return Retrieval(
            question,
            query,
            fragments,
            verdict,
            best,
            terms,
            term_weights=weights,
            passages=passages,
            missing_quantity=missing_quantity,
            search_seconds=searched - started,
            units=self.index.units,
            seconds=time.perf_counter() - started,
            reranked=reranked is not None,
            rerank_score=rerank_score,
        )

    def _reranked_fragments(
        self, query: str, fused: np.ndarray, queries: np.ndarray
    ) -> list[Fragment] | None:
        """The context filled in the reranker's order from the windows of `RERANK_POOL`
        times the budget; None without a reranker, or when it failed."""
        if self.reranker is None:
            return None
        pool = self._fragments(
            self._windows(
                fused, self.context_words * RERANK_POOL, self.max_fragments * RERANK_POOL
            ),
            queries,
        )
        scores = self.reranker.scores(query, [f.chunk.text for f in pool])
        if scores is None:
            return None
        chosen: list[Fragment] = []
        words = 0
        for i in reorder(scores):
            cost = len(pool[i].chunk.text.split())
            if chosen and words + cost > self.context_words:
                continue
            chosen.append(replace(pool[i], rank=len(chosen) + 1))
            words += cost
            if len(chosen) >= self.max_fragments:
                break
        return chosen

    def _reranked_passages(
        self, query: str, passages: list[Passage]
    ) -> tuple[list[Passage], float | None]:
        """The best `RERANK_PASSAGES` passages in the reranker's order, then the rest, and
        the reranker's best score (None when it was not asked or failed)."""
        top = passages[:RERANK_PASSAGES]
        scores = self.reranker.scores(query, [p.quote for p in top]) if self.reranker else None
        if not scores:
            return passages, None
        return [top[i] for i in reorder(scores)] + passages[len(top) :], max(scores)

    def _inverse_document_frequencies(self) -> dict[str, float]:
        """BM25's idf per term, from the chunk counts in its term-major score matrix."""
        n_docs = len(self.index.chunks)
        return {
            term: math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
            for term, df in self.index.chunk_document_frequencies(self._vocab).items()
        }

    def expand(self, terms: list[str]) -> list[str]:
        """Query terms plus their likely auto-caption spellings, without repeats."""
        return expand_terms(terms, self._asr_index)

    def _signals(
        self, qv: np.ndarray, terms: list[str]
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per unit, with which units count: unit cosine, unit BM25, the cosine of its
        surroundings (the best chunk holding it, and the mean cosine of its neighbours;
        without chunk vectors the latter alone) and the BM25 of the best chunk holding
        it. Dense scores outside the store's top `rank_depth` (HNSW) are -inf (unranked)."""
        units = self.index.unit_scores(qv)
        neighbours = around = self._neighbourhood(units)
        if self._chunk_dense:
            chunks = self.index.chunk_scores(qv, self.rank_depth)
            around = self._by_unit(chunks)
        signals: list[tuple[np.ndarray, np.ndarray | None]] = [(units, None), (around, None)]
        known = [t for t in terms if t in self._vocab]
        if known and self.index.has_bm25:
            unit_bm25 = self.index.unit_bm25_scores(known)
            chunk_bm25 = self.index.chunk_bm25_scores(known)
            for scores in (unit_bm25, self._by_unit(chunk_bm25)):
                signals.append((scores, scores > 0))
        if self._chunk_dense:  # last: the episode focus leaves it out (`retrieve`)
            signals.append((neighbours, None))
        return signals

    def _fuse(
        self,
        signals: list[tuple[np.ndarray, np.ndarray | None]],
        focus: np.ndarray | None = None,
    ) -> np.ndarray:
        """RRF score per unit of the `signals`.

        With a `focus` mask, units are ranked among the focused ones only (others score 0)."""
        fused = np.zeros(len(signals[0][0]))
        for scores, valid in signals:
            if focus is not None:
                valid = focus if valid is None else valid & focus
            fused += rrf_scores(scores, valid, self.rrf_k, self.rank_depth)
        if focus is not None:
            fused[~focus] = 0.0
        return fused

    def _focus(self, fused: np.ndarray) -> np.ndarray | None:
        """Units of the episodes that clearly hold the answer, or None for all.

        An episode's topical weight is the mean fused score of its best `FOCUS_UNITS`
        units (about 2,000 words): an episode that discusses the question's subject at
        length beats one that mentions its words in passing. Episodes below
        `FOCUS_RATIO` of the best are dropped and the rest re-ranked among themselves
        (30 synthetic distractor episodes, dev: recall 0.71 -> 0.86)."""
        if len(self._episode_starts) < 2:
            return None
        weights = np.array(
            [
                np.sort(fused[a:b])[::-1][:FOCUS_UNITS].mean()
                for a, b in zip(self._episode_starts, self._episode_ends, strict=True)
            ]
        )
        keep = weights >= FOCUS_RATIO * weights.max()
        if keep.all():
            return None
        return np.repeat(keep, self._episode_ends - self._episode_starts)

    def _neighbourhood(self, scores: np.ndarray) -> np.ndarray:
        """Each unit's mean score over itself and the units up to `NEIGHBOURS` away in
        its episode; unranked (-inf) units are left out of the mean, and a unit with no
        ranked unit around it stays unranked."""
        ranked = np.isfinite(scores)
        sums = np.concatenate([[0.0], np.cumsum(np.where(ranked, scores, 0.0))])
        counts = np.concatenate([[0], np.cumsum(ranked)])
        rows = np.arange(len(scores))
        lo = np.maximum(self._episode_span[:, 0], rows - NEIGHBOURS)
        hi = np.minimum(self._episode_span[:, 1], rows + NEIGHBOURS + 1)
        n = counts[hi] - counts[lo]
        out = np.full(len(scores), -np.inf)
        np.divide(sums[hi] - sums[lo], n, out=out, where=n > 0)
        return out

    def _by_unit(self, chunk_scores: np.ndarray) -> np.ndarray:
        """Each unit's best score among the chunks holding it."""
        padded = np.append(chunk_scores, -np.inf)  # row -1 reads the pad
        best = padded[self._chunks_of_unit[:, 0]]
        for column in self._chunks_of_unit.T[1:]:
            np.maximum(best, padded[column], out=best)
        return best

    def _windows(
        self, fused: np.ndarray, budget: int | None = None, cap: int | None = None
    ) -> list[Window]:
        """Grow the best units into windows within the word budget (default: the
        context's), merging touching ones; at most `cap` (`max_fragments`) windows.

        Units wholly inside an episode's intro come after all others (`rag.passages`:
        its topic list matches many questions; dev, 5 folds: 108 -> 110 of 124 evidence
        spans, no fold worse)."""
        before, after = self.window
        windows: list[Window] = []
        covered: set[int] = set()
        words = 0
        budget = budget or self.context_words
        cap = cap or self.max_fragments
        scan = min(len(fused), max(50, 20 * cap))
        for row in np.lexsort((-fused, self._in_intro))[:scan]:
            row = int(row)
            if row in covered:
                continue
            lo_ep, hi_ep = self._episode_span[row]
            lo, hi = max(lo_ep, row - before), min(hi_ep, row + after + 1)
            new = [r for r in range(lo, hi) if r not in covered]
            touching = [
                w for w in windows if w.first <= hi and lo <= w.last and hi_ep > w.first >= lo_ep
            ]
            # Merged windows share one lead-in: the one before the first unit of all.
            first = min([lo, *(w.first for w in touching)])
            cost = int(self._unit_words[new].sum()) + self._lead(first)
            cost -= sum(self._lead(w.first) for w in touching)
            if windows and words + cost > budget:
                if words >= budget - 20:
                    break
                continue
            if not touching and len(windows) >= cap:
                continue
            if touching:
                keep = touching[0]
                for w in touching[1:]:
                    windows.remove(w)
                keep.first = first
                keep.last = max([hi, *(w.last for w in touching)])
                keep.score = max([float(fused[row]), *(w.score for w in touching)])
            else:
                windows.append(Window(lo, hi, float(fused[row])))
            covered.update(new)
            words += cost
        return windows

    def _lead(self, row: int) -> int:
        """Words of the unit before `row` that a window starting at `row` takes in."""
        if row == self._episode_span[row][0]:
            return 0
        return min(self.lead_words, int(self._unit_words[row - 1]))

    def _fragments(self, windows: list[Window], queries: np.ndarray) -> list[Fragment]:
        """The windows as fragments, each with its lead-in (`LEAD_WORDS`); unit scores are
        the best cosine with any query."""
        units = self.index.units
        fragments = []
        for rank, w in enumerate(windows, start=1):
            run = units[w.first : w.last]
            head, tail = run[0], run[-1]
            episode = self.index.episodes[head.episode_id]
            lead_text, start_char, start_time = "", head.start_char, head.start_time
            lead = self._lead(w.first)
            if lead:
                prev = units[w.first - 1]
                cut = [m.start() for m in re.finditer(r"\S+", prev.text)][-lead]
                lead_text = prev.text[cut:] + prev.gap_after
                start_time = prev.start_time
                # Joined cue words (timestamped) are cited by their units' source span.
                start_char = prev.start_char + (cut if prev.start_time is None else 0)
            chunk = Chunk(
                id=f"{head.episode_id}@{head.index}-{tail.index + 1}",
                episode_id=head.episode_id,
                source_file=episode.source_file,
                index=head.index,
                first_unit=head.index,
                last_unit=tail.index + 1,
                start_char=start_char,
                end_char=tail.end_char,
                start_time=start_time,
                end_time=tail.start_time,
                text=lead_text + join_units(run),
            )
            rows = list(range(w.first, w.last))
            sims = (self._unit_matrix[w.first : w.last] @ queries.T).max(axis=1)
            fragments.append(Fragment(rank, chunk, episode, w.score, rows, sims.tolist(), lead))
        return fragments

    def _verdict(self, best: float, thresholds: VerdictThresholds | None = None) -> Verdict:
        t = thresholds or self.thresholds
        if best >= t.found_score:
            return Verdict.FOUND
        if best >= t.unsure_score:
            return Verdict.UNSURE
        return Verdict.NOT_FOUND
