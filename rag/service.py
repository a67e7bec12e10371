"""The one entry point both front ends call: `AnswerService.ask(question) -> Answer`.

An answer is a few steps (`AnswerService.answer_steps`): search queries from the LLM,
retrieval, composing. `ask` runs them in the caller's thread (the CLI); `ask_async` (the
bot) runs provider calls in the bounded `LLMExecutor` and the rest in `answer_executor`
(one thread per core), so retrieval, reindexing and uploads never wait behind a slow
provider.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from langchain_core.embeddings import Embeddings

from rag import messages_nl as nl
from rag.answer import Answer, Citation, Composed, Composer, RetrievedFragment, asks_more
from rag.catalogue import Catalogue, CatalogueAnswer, about_the_archive, picked_from_list
from rag.embeddings import as_embedder, build_embedder
from rag.index import IndexBusyError, IndexReport, build_index
from rag.lexicon import load_lexicon
from rag.llm import (
    Deadline,
    LLMComposer,
    LLMExecutor,
    QueryPlanner,
    QuestionRewriter,
    Usage,
    add_usage,
    build_composer,
    build_planner,
    build_rewriter,
)
from rag.rerank import Reranker
from rag.retrieval import HybridRetriever, Retrieval, VerdictThresholds
from rag.settings import FRAGMENT_WORDS, Settings
from rag.smalltalk import small_talk_reply
from rag.speakers import load_speakers
from rag.store import IndexMissingError, IndexUnreadableError, SearchIndex, current_build
from rag.text import search_tokens
from rag.types import AnswerMode, FallbackReason, Turn, Verdict

log = logging.getLogger(__name__)

# Words that point back at the previous question ("en wat zei hij over Nvidia?", "en hoe
# werkt dat?"). "die", "dat" and "zijn" count only at the end: elsewhere they are mostly a
# relative pronoun, a conjunction or a verb.
REFERRING_RE = re.compile(
    r"\b(hij|zij|hem|haar|ze|daar|daarover|daarvan|daarmee|daarbij|dit|deze|het bedrijf|hun)\b"
    r"|\b(die|dat|dit|zijn)\W*$",
    re.IGNORECASE,
)
CONNECTIVE_RE = re.compile(r"^(en|maar|ook|dus|waarom dan)\b", re.IGNORECASE)
# A follow-up with at least this many words of its own (names, topics) asks about them.
OWN_SUBJECT_TERMS = 2
# `ask_async` waits this much past the deadline for a call to give up by itself (its
# request timeout ends at the deadline) before it stops waiting and falls back itself.
DEADLINE_GRACE_S = 0.5


USAGE_TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
# LLM calls outside the answers, counted with their tokens by `AnswerService.count_llm_call`.
USAGE_CALL_KEYS = ("webinar_summaries",)  # the webinar export's group summaries (bot.webinar)
USAGE_TOTAL_KEYS = (
    *USAGE_TOKEN_KEYS,
    "llm_answers",  # answers written by the LLM
    "llm_fallbacks",  # answers where the LLM failed or was rejected (extractive + note)
    *USAGE_CALL_KEYS,
)


@dataclass
class Step:
    """One step of an answer: `run()`. A provider call also has `fallback()`, the result
    when it gets no LLM worker or runs out of time."""

    run: Callable[[], Any]
    fallback: Callable[[], Any] | None = None


def standalone_query(question: str, history: list[Turn] | None) -> str:
    """Retrieval query for a follow-up: lean on the previous question when needed, itself
    read as its own follow-up would have been ("waarom?" after a question about open
    source, then "en hoe dan?"); a request for more ("meer", "ga door") is the previous
    question."""
    if not history:
        return question
    if asks_more(question):
        return standalone_query(history[-1].question, history[:-1])
    if len(question.split()) > 12:
        return question
    own = len(search_tokens(question))
    if (
        REFERRING_RE.search(question)
        or own == 0
        or (CONNECTIVE_RE.match(question) and own < OWN_SUBJECT_TERMS)
    ):
        return f"{standalone_query(history[-1].question, history[:-1])} {question}"
    return question


def more_of_nothing(question: str, history: list[Turn] | None) -> bool:
    """Whether `question` asks for more ("meer") with no question before it to give more
    of: it gets `nl.MORE_OF_WHAT`, not a search."""
    return asks_more(question) and asks_more(standalone_query(question, history))


class AnswerService:
    """Owns the index, the retriever and the composer; safe to share across threads.

    With `settings.llm_enabled` an LLM writes the answers (`rag.llm.LLMComposer`) and
    rewrites follow-up questions for retrieval; otherwise answers are extractive.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embeddings | None = None,
        composer: Composer | None = None,
        rewriter: QuestionRewriter | None = None,
        planner: QueryPlanner | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = as_embedder(embedder) if embedder is not None else build_embedder(settings)
        self.composer: Composer = composer or build_composer(settings)
        self.rewriter = rewriter or build_rewriter(settings)
        self.planner = planner or build_planner(settings)
        self.reranker = (
            Reranker(
                settings.rerank_url,
                settings.rerank_model,
                settings.rerank_api_key,
                settings.rerank_timeout_s,
            )
            if settings.rerank_url
            else None
        )
        self.llm_executor = LLMExecutor(settings.llm_workers)  # threads start when used
        # Retrieval and extractive answers (CPU): as many threads as cores, first come
        # first served. More threads only contend for the GIL and the embedder lock.
        self.answer_executor = ThreadPoolExecutor(
            settings.answer_workers, thread_name_prefix="answer"
        )
        self._retriever: HybridRetriever | None = None
        self._lock = threading.Lock()
        self._usage_lock = threading.Lock()
        self._usage_totals: dict[str, int] = dict.fromkeys(USAGE_TOTAL_KEYS, 0)

    @property
    def context_words(self) -> int:
        """Words of context per question: more when an LLM reads them."""
        s = self.settings
        return s.llm_context_words if s.llm_enabled else s.context_words

    @property
    def max_fragments(self) -> int:
        """At most `MAX_FRAGMENTS` fragments per `FRAGMENT_WORDS` words of context. A cap
        of 18 at 3,000 words let the context grow only around the first hits (17.6
        fragments a dev question); scaled, 22 (dev, 5 folds: 113 -> 114 spans at 3,000
        words, one fold +1, none worse; 1,500 words unchanged)."""
        scaled = self.settings.max_fragments * self.context_words / FRAGMENT_WORDS
        return max(1, round(scaled))

    @property
    def index(self) -> SearchIndex | None:
        return self._retriever.index if self._retriever else None

    def load(self) -> bool:
        """Load (or reload) the live index; False when there is none yet.

        An unreadable index counts as missing (the caller rebuilds it) rather than
        failing: a crash here would become a crash loop under a restart policy.
        """
        try:
            index = SearchIndex.load(self.settings.index_dir)
        except IndexUnreadableError as exc:
            log.error("index unreadable, treating it as missing: %s", exc)
            return False
        except IndexMissingError as exc:
            log.info("no index yet: %s", exc)
            return False
        retriever = HybridRetriever(
            index,
            self.embedder,
            context_words=self.context_words,
            max_fragments=self.max_fragments,
            thresholds=VerdictThresholds(self.settings.found_score, self.settings.unsure_score),
            rerank_thresholds=(
                VerdictThresholds(*self.settings.rerank_cut_offs)
                if self.settings.rerank_cut_offs
                else None
            ),
            lexicon=load_lexicon(self.settings.lexicon_file),
            speakers=load_speakers(self.settings.speakers_file),
            reranker=self.reranker,
        )
        self._retriever = retriever  # one reference swap: readers see old or new
        log.info("index loaded: %d episodes, %d chunks", len(index.episodes), len(index.chunks))
        return True

    def ensure_index(
        self, progress: Callable[[int, int], None] | None = None
    ) -> IndexReport | None:
        """Load the index, building it first when there is none."""
        if self.load():
            return None
        report = self.reindex(progress)
        return report

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> IndexReport:
        """Incremental rebuild; the old index keeps answering until the swap.

        Raises `IndexBusyError` when a build is already running (here or in another
        process). Reloads whenever the live build on disk is not the one loaded, so an
        index rebuilt by `aireport index` meanwhile is picked up too.
        """
        if not self._lock.acquire(blocking=False):
            raise IndexBusyError("an index build is already running")
        try:
            report = build_index(self.settings, self.embedder, progress)
            live = current_build(self.settings.index_dir)
            if self._retriever is None or self._retriever.index.path != live:
                self.load()
            return report
        finally:
            self._lock.release()

    @property
    def usage_totals(self) -> dict[str, int]:
        """LLM tokens and call counts since start (for `/stats`); a copy."""
        with self._usage_lock:
            return dict(self._usage_totals)

    def count_llm_call(self, call: str, usage: Usage) -> None:
        """Add the tokens of an LLM call made outside the answers to the totals, and count
        the call under `call`, one of `USAGE_CALL_KEYS` (not an answer to a question)."""
        if call not in USAGE_CALL_KEYS:
            raise ValueError(f"not a counter of LLM calls: {call}")
        with self._usage_lock:
            self._add_tokens(usage)
            self._usage_totals[call] += 1

    def _count_usage(self, usage: Usage, composed: Composed) -> None:
        with self._usage_lock:
            self._add_tokens(usage)
            self._usage_totals["llm_answers"] += composed.mode == AnswerMode.LLM
            self._usage_totals["llm_fallbacks"] += composed.fallback is not None

    def _add_tokens(self, usage: Usage) -> None:
        """Under `_usage_lock`: the token counts of `usage` into the totals."""
        for key in USAGE_TOKEN_KEYS:
            self._usage_totals[key] += usage.get(key, 0)

    def standalone(
        self, question: str, history: list[Turn] | None, deadline: Deadline | None = None
    ) -> tuple[str, Usage]:
        """The retrieval query for `question`: rewritten by the LLM when there is history
        (falling back to `standalone_query`), the question itself otherwise."""
        if not history:
            return question, {}
        if self.rewriter is None:
            return standalone_query(question, history), {}
        rewritten, usage = self.rewriter.rewrite(question, history, deadline)
        query = rewritten or standalone_query(question, history)
        log.info("rewrite: %r -> %r", question, query)
        return query, usage

    def search_queries(
        self, question: str, history: list[Turn] | None, deadline: Deadline | None = None
    ) -> tuple[list[str], Usage]:
        """What to search for: the LLM's queries when it plans them (the standalone
        question first), else the standalone question alone."""
        if self.planner is not None:
            planned, usage = self.planner.plan(question, history, deadline)
            if planned:
                log.info("search queries for %r: %r", question, planned)
                return planned, usage
            return [standalone_query(question, history)], usage
        query, usage = self.standalone(question, history, deadline)
        return [query], usage

    def retrieve(self, question: str, history: list[Turn] | None = None) -> Retrieval | None:
        """Retrieval as an answer does it: with the LLM's search queries when it plans them."""
        return self._retrieve(question, self.search_queries(question, history)[0])

    def search(self, question: str) -> Retrieval | None:
        """Retrieval of the question as written: no LLM call (warm-up, webinar export)."""
        return self._retrieve(question, [question])

    def _retrieve(self, question: str, queries: list[str]) -> Retrieval | None:
        if self._retriever is None:
            return None
        return self._retriever.retrieve(question, queries[0], extra_queries=queries[1:])

    def ask(
        self,
        question: str,
        history: list[Turn] | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer one Dutch question with citations, every step in this thread.

        `on_delta(text)` is called from this (worker) thread with the whole draft so
        far while an LLM streams; see `rag.llm` for when a call replaces rather than
        extends the previous draft. The returned `Answer` is final either way.
        """
        steps = self.answer_steps(question, history, on_delta, self.deadline())
        result = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as done:
                return done.value
            result = step.run()

    async def ask_async(
        self,
        question: str,
        history: list[Turn] | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Answer:
        """`ask` for an event loop. Provider calls run in `llm_executor`; when all its
        workers are busy, or the answer's deadline passes, the step's fallback is used
        (the question itself is searched; the extractive answer with the note is sent).
        Everything else runs in `answer_executor`. `on_delta` is called from a
        worker thread."""
        loop = asyncio.get_running_loop()
        deadline = self.deadline()
        steps = self.answer_steps(question, history, on_delta, deadline)
        result = None
        try:
            while True:
                try:
                    step = steps.send(result)
                except StopIteration as done:
                    return done.value
                if step.fallback is None:
                    result = await loop.run_in_executor(self.answer_executor, step.run)
                    continue
                future = self.llm_executor.submit(step.run)
                if future is None:
                    log.warning(
                        "all %d LLM workers are busy: answering without the LLM",
                        self.llm_executor.workers,
                    )
                    result = await loop.run_in_executor(self.answer_executor, step.fallback)
                    continue
                try:
                    wait = deadline.remaining() + DEADLINE_GRACE_S
                    result = await asyncio.wait_for(asyncio.wrap_future(future), wait)
                except TimeoutError:
                    deadline.expire()
                    log.warning(
                        "LLM deadline of %g s passed: answering without the LLM", deadline.seconds
                    )
                    result = await loop.run_in_executor(self.answer_executor, step.fallback)
        finally:
            deadline.expire()  # done, or cancelled: a call still running stops soon

    def _catalogue_answer(
        self, question: str, picked: tuple[str, str] | None = None
    ) -> CatalogueAnswer | None:
        retriever = self._retriever
        if retriever is None:
            return None
        catalogue = Catalogue(
            retriever.index,
            retriever.speakers,
            retriever.intro_ends,
            retriever.lexicon.fix_spelling,
        )
        if picked is not None:  # the earlier question, for the episode picked from its list
            return catalogue.answer(picked[0], self.search, chosen=picked[1])
        return catalogue.answer(question, self.search)

    def deadline(self) -> Deadline:
        """A fresh deadline for the LLM work of one answer (`LLM_DEADLINE_S`)."""
        return Deadline(self.settings.llm_deadline_s)

    def answer_steps(
        self,
        question: str,
        history: list[Turn] | None,
        on_delta: Callable[[str], None] | None,
        deadline: Deadline,
    ) -> Generator[Step, Any, Answer]:
        """The steps of answering `question`: each `Step` yielded is run by the caller,
        which sends its result back; the generator returns the `Answer`."""
        started = time.perf_counter()
        question = question.replace("\x00", "").strip()
        if not any(ch.isalnum() for ch in question):  # empty, or only marks and emoji
            return _plain_answer(question, nl.EMPTY_QUESTION, started)
        reply = small_talk_reply(question)  # "Hoi", "bedankt!": not a question
        if reply is not None:
            return _plain_answer(question, reply, started)
        if more_of_nothing(question, history):
            return _plain_answer(question, nl.MORE_OF_WHAT, started)
        # "Wie was de gast?": from the episode list; "2" picks from a list given before.
        picked = picked_from_list(question, history)
        if picked is not None or about_the_archive(question):
            listed = yield Step(partial(self._catalogue_answer, question, picked))
            if listed is not None:
                return _plain_answer(question, listed.text, started, listed.citations)
        if self.planner is not None or (self.rewriter is not None and history):
            queries, usage = yield Step(
                partial(self.search_queries, question, history, deadline),
                lambda: ([standalone_query(question, history)], {}),
            )
        else:
            queries, usage = self.search_queries(question, history)  # no LLM call
        rewritten_at = time.perf_counter()
        retrieval = yield Step(partial(self._retrieve, question, queries))
        if retrieval is None or not retrieval.fragments:
            index = self.index
            empty = retrieval is None or index is None or not index.chunks
            text = nl.NO_EPISODES if empty else nl.NOT_FOUND
            return _plain_answer(question, text, started)
        # "retrieve" is the follow-up rewrite plus the hybrid search; placing passages
        # inside the fragments (which also decides found / not found) counts as answering.
        retrieved_at = rewritten_at + retrieval.search_seconds
        if isinstance(self.composer, LLMComposer):
            composed = yield Step(
                partial(self.composer.compose, retrieval, history, on_delta, deadline),
                partial(self.composer.unavailable, retrieval, history, FallbackReason.SKIPPED),
            )
        else:
            composed = yield Step(partial(self.composer.compose, retrieval, history, on_delta))
        done = time.perf_counter()
        usage = add_usage(usage, composed.usage)
        self._count_usage(usage, composed)
        log.info(
            "answered mode=%s verdict=%s sim=%.3f citations=%d tokens=%d (prompt %d, "
            "completion %d) in %.0f ms",
            composed.mode,
            retrieval.verdict,
            retrieval.best_score,
            len(composed.citations),
            usage.get("total_tokens", 0),
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
            (done - started) * 1000,
        )
        return Answer(
            question=question,
            text=composed.text,
            found=composed.found,
            mode=composed.mode,
            citations=composed.citations,
            retrieved=[
                RetrievedFragment(
                    f.rank,
                    f.chunk.episode_id,
                    f.chunk.source_file,
                    f.chunk.start_char,
                    f.chunk.end_char,
                    round(f.score, 6),
                )
                for f in retrieval.fragments
            ],
            timings_ms={
                "retrieve": (retrieved_at - started) * 1000,
                "answer": (done - retrieved_at) * 1000,
                "total": (done - started) * 1000,
            },
            verdict=final_verdict(retrieval.verdict, composed.found),
            search_query=retrieval.query,
            note=composed.note,
            usage=usage,
            dropped_markers=composed.dropped_markers,
            verdict_score=retrieval.best_score,
            rerank_score=retrieval.rerank_score,
            missing_quantity=retrieval.missing_quantity,
            support=composed.support,
            fallback=composed.fallback,
        )


def final_verdict(retrieved: Verdict, answered: bool) -> Verdict:
    """The verdict the reader gets: an LLM may judge the fragments not to answer
    (not found), or answer where retrieval had its doubts (at most unsure)."""
    if not answered:
        return Verdict.NOT_FOUND
    return Verdict.UNSURE if retrieved is Verdict.NOT_FOUND else retrieved


def _plain_answer(
    question: str, text: str, started: float, citations: list[Citation] | None = None
) -> Answer:
    """An answer without a search: found (from the episode list) when it cites, else a
    reply to a message that asked nothing to search for."""
    total = (time.perf_counter() - started) * 1000
    citations = citations or []
    if citations:
        log.info("answered from the episode list: citations=%d in %.0f ms", len(citations), total)
    return Answer(
        question=question,
        text=text,
        found=bool(citations),
        mode=AnswerMode.EXTRACTIVE,
        citations=citations,
        retrieved=[],
        timings_ms={"retrieve": total, "answer": 0.0, "total": total},
        verdict=Verdict.FOUND if citations else Verdict.NOT_FOUND,
    )
