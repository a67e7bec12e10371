"""LLM-written, cited Dutch answers over any OpenAI-compatible API (OpenAI, Groq, Ollama, vLLM).

`LLMComposer` numbers the retrieved fragments 1..k in rank order, asks the model
(prompts in `rag.prompts`) and post-processes what it wrote:

- Markers: every `[n]` must name a fragment that was given; others are removed.
  The kept ones are renumbered in order of first appearance ([1], [2], ...), and
  citations are built only for the fragments actually cited, each with a verbatim
  quote from that fragment (its best passage, else the best window of its chunk).
- Not found: the model starts its answer with `prompts.NOT_FOUND_SENTINEL`. The
  sentinel is stripped (while streaming too: output is held back until it is clear
  whether the answer starts with it), `found` is False and there are no citations.
- Unsupported sentences: each sentence with markers is scored against the text of
  the fragments it cites (`rag.support`: the share of its content words they
  contain). A sentence under `support.SUPPORTED` is removed, with a note saying how
  many were; the remaining markers are renumbered. `Composed.support` records every
  checked sentence with its score.
- Unsupported answers: an answer that claims to answer but cites no given
  fragment, has no cited sentence its fragments support, comes back empty, or
  repeats the system prompt (an injection that worked) is not shown. The extractive
  answer is returned instead, with the one-line note. An uncited LLM claim cannot be
  checked by the reader, while the extractive answer is verbatim and cited, so the
  fallback is the safer choice.
- NOT_FOUND verdicts: the model is asked anyway (`ask_when_not_found`). On the dev
  set the retrieval threshold lets through many unanswerable questions anyway, so the
  model has to judge answerability in any case; asking it on NOT_FOUND too costs one
  call per out-of-scope question, recovers the rare answerable question the threshold
  misses, and lets the model name the nearest topic in a sentence instead of quoting
  a raw caption window.
- Failures: the provider call is the only code inside the guard. Timeouts, refused
  connections, 429/5xx (retried `max_retries` times with the openai client's backoff
  rules, while the deadline allows), 401, unknown models, undecodable payloads, streams
  that break halfway and a passed deadline all end in the extractive answer plus
  `messages_nl.LLM_UNAVAILABLE`, mode extractive, with the reason in `Composed.fallback`
  (`rag.types.FallbackReason`; rejected answers above too). The cause is logged (type
  and message, key redacted).
- Deadline: every call of one answer (search queries or rewrite, then the answer)
  shares one `Deadline`. Each request's timeout is `LLM_TIMEOUT_S` capped by the time
  left, a retry is only made when its wait ends before the deadline, and a stream stops
  at the first chunk after it, so a server trickling one token every few seconds (which
  never trips a per-read timeout) cannot hold an answer, or a worker, for long.
- `LLMExecutor` runs these calls for the bot: a few worker threads of their own, and
  no queue (see there).

Streaming (`on_delta`): the callback gets the whole cleaned draft so far (markers
renumbered, sentinel and unfinished markers held back), normally growing with each
call. It may also be called with a text that does *not* extend the previous one:
after a fallback it receives the extractive answer text once, which replaces the
draft, and at the end it receives the final text when post-processing changed the
last draft. Consumers should always show the latest text as a whole; the returned
`Answer` is authoritative (its `mode` and `fallback` say whether a fallback happened).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast

import openai
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from rag import messages_nl as nl
from rag import prompts
from rag.answer import (
    Citation,
    Composed,
    ExtractiveComposer,
    SentenceSupport,
    passage_citation,
)
from rag.lexicon import load_lexicon
from rag.passages import PASSAGE_WORDS, WINDOW_STEP, ChunkWords, Fragment, Passage
from rag.retrieval import Retrieval
from rag.settings import Settings
from rag.support import MARKER_RE as PLAIN_MARKER_RE
from rag.support import Sentence, SourceText, SupportScorer, is_supported, sentences
from rag.text import search_tokens
from rag.types import AnswerMode, FallbackReason, Turn, Verdict

log = logging.getLogger(__name__)

# Placeholder key for servers without authentication (Ollama, vLLM, LM Studio, llama.cpp).
NO_KEY = "not-needed"
ANSWER_MAX_TOKENS = 1024
REWRITE_MAX_TOKENS = 120
REWRITE_MAX_CHARS = 300
QUERIES_MAX_TOKENS = 200
# Ten consecutive words of the system prompt in an answer mean the prompt leaked.
LEAK_NGRAM = 10
# Retries follow the openai client's rules: these statuses and 5xx, connection errors and
# timeouts; the server's retry-after when it gives one, else 0.5 s doubling up to 8 s.
RETRY_STATUSES = frozenset({408, 409, 429})
FIRST_RETRY_WAIT_S = 0.5
MAX_RETRY_WAIT_S = 8.0
RETRY_COUNT_HEADER = "x-stainless-retry-count"  # what the openai client sends itself

# A run of markers (`[3]`, `[1, 2][4]`, `[fragment 4]`) with the horizontal space before it.
MARKER_RE = re.compile(r"([ \t]*)((?:\[(?:fragment\s*)?\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])+)", re.I)
# An unfinished marker at the end of a draft: held back until it closes.
OPEN_MARKER_RE = re.compile(r"\[(?:f[a-z]*\s*)?[\d,;\s]*$", re.I)
# Upper case only: "hij gaf geen antwoord" in a normal answer is not the sentinel.
SENTINEL_RE = re.compile(r"[*_`\"'\s]*GEEN[_ ]ANTWOORD[*_`\"'\s]*[:.\-–—]?[*_\s]*")
# A source list the model appended anyway ("Bronnen:\n[1] ..."); the system adds its own.
SOURCES_TAIL_RE = re.compile(r"\n\s*\**(?:bronnen|bron|sources)\**\s*(?::|\n|$).*$", re.I | re.S)
THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.S)
_LEAD_RE = re.compile(r"^[*_`\"'\s]+")
# What the leak check ignores: everything but letters (`_` and digits included).
_NON_LETTER_RE = re.compile(r"[\W\d_]+")


class LLMError(Exception):
    """The provider call failed; the message says why (never with the key)."""


Usage = dict[str, int]
T = TypeVar("T")


class Deadline:
    """When the LLM work of one answer must be over; shared by its calls (and threads)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._at

    def expire(self) -> None:
        """End it now (the caller gave up): a call still running stops soon."""
        self._at = min(self._at, time.monotonic())


class LLMExecutor:
    """Worker threads for provider calls, apart from retrieval, indexing and uploads.

    It never queues: `submit` returns None when all `workers` are busy, and the caller
    answers without the LLM at once instead of waiting behind a slow provider. A worker
    counts as busy until its call has returned, also after the caller stopped waiting.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="llm")
        self._free = threading.BoundedSemaphore(workers)

    def submit(self, call: Callable[[], T]) -> Future[T] | None:
        if not self._free.acquire(blocking=False):
            return None
        try:
            future = self._pool.submit(call)
        except RuntimeError:  # shut down
            self._free.release()
            return None
        future.add_done_callback(lambda _: self._free.release())
        return future

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def usage_of(metadata: Mapping[str, Any] | None) -> Usage:
    """OpenAI-style token counts from a langchain `usage_metadata`."""
    if not metadata:
        return {}
    prompt, completion = metadata.get("input_tokens", 0), metadata.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": metadata.get("total_tokens", prompt + completion),
    }


def add_usage(a: Usage, b: Usage) -> Usage:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}


def chat_model(settings: Settings, temperature: float, max_tokens: int) -> ChatOpenAI:
    """A ChatOpenAI client for the configured provider (a base URL alone needs no key)."""
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=settings.openai_api_key or SecretStr(NO_KEY),
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=0,  # `ChatCaller` retries, within the answer's deadline
        temperature=temperature,
        max_completion_tokens=max_tokens,  # the field `max_tokens`, by its alias
        # Usage in streams is only requested by default for api.openai.com.
        stream_usage=True,
    )


def describe_error(exc: BaseException, secret: str | None = None) -> str:
    """`Type: message (RootCause: message)`, with the key masked should it appear."""
    text = f"{type(exc).__name__}: {exc}"
    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        root = nxt
        seen.add(id(root))
    if root is not exc and str(root) and str(root) not in text:
        text += f" ({type(root).__name__}: {root})"
    if secret and secret != NO_KEY:
        text = text.replace(secret, "***")
    return text


def retry_wait(exc: Exception, attempt: int) -> float | None:
    """Seconds to wait before retrying after `exc`, or None when a retry cannot help."""
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code not in RETRY_STATUSES and exc.status_code < 500:
            return None
        for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            try:
                wait = float(exc.response.headers.get(header, "")) * scale
            except ValueError:
                continue
            if wait > 0:  # the openai client ignores 0 too
                return wait
    elif not isinstance(exc, openai.APIConnectionError):  # timeouts included
        return None
    return min(FIRST_RETRY_WAIT_S * 2**attempt, MAX_RETRY_WAIT_S) * (1 - 0.25 * random.random())


class ChatCaller:
    """Runs one chat request, streamed or not, within a deadline, and turns any provider
    failure (or a deadline that passes) into LLMError."""

    def __init__(self, model: ChatOpenAI, secret: str | None, settings: Settings) -> None:
        self.model = model
        self._secret = secret
        self.timeout_s = settings.llm_timeout_s
        self.max_retries = settings.llm_max_retries

    def invoke(
        self, messages: list[BaseMessage], deadline: Deadline | None = None
    ) -> tuple[str, Usage]:
        reply = self._request(lambda options: self.model.invoke(messages, **options), deadline)
        return str(reply.text), usage_of(reply.usage_metadata)

    def stream(
        self,
        messages: list[BaseMessage],
        on_text: Callable[[str], None],
        deadline: Deadline | None = None,
    ) -> tuple[str, Usage]:
        """Stream the reply; `on_text` gets the raw text so far after each chunk."""
        deadline = deadline or Deadline(float("inf"))
        started: list[Generator[AIMessageChunk, None, None]] = []

        def start(options: dict[str, Any]) -> AIMessageChunk | None:
            # `stream` is a generator: `close()` below ends the request
            started.append(
                cast(Generator[AIMessageChunk, None, None], self.model.stream(messages, **options))
            )
            return next(started[-1], None)  # the request is sent here: failures are retried

        chunk = self._request(start, deadline)
        text = ""
        usage: Usage = {}
        try:
            while chunk is not None:
                if deadline.passed:
                    raise LLMError(f"deadline of {deadline.seconds:g} s passed while streaming")
                usage = add_usage(usage, usage_of(chunk.usage_metadata))
                piece = str(chunk.text)
                if piece:
                    text += piece
                    on_text(text)  # outside the guard: a consumer's error is not an LLM failure
                chunk = self._guarded(lambda: next(started[-1], None))
        finally:
            started[-1].close()  # stop reading: the connection closes, the worker is free
        return text, usage

    def _request(self, send: Callable[[dict], T], deadline: Deadline | None) -> T:
        """`send(options)` with a timeout that ends by the deadline, retried while worth it."""
        deadline = deadline or Deadline(float("inf"))
        attempt = 0
        while True:
            timeout = min(self.timeout_s, deadline.remaining())
            if timeout <= 0:
                raise LLMError(f"deadline of {deadline.seconds:g} s passed")
            options = {"timeout": timeout, "extra_headers": {RETRY_COUNT_HEADER: str(attempt)}}
            try:
                return send(options)
            # Only the provider call runs here. The client libraries report failures with
            # many types (openai errors, httpx errors, json.JSONDecodeError for malformed
            # bodies, KeyError/TypeError for odd payloads); every one means "no LLM answer".
            except Exception as exc:
                wait = retry_wait(exc, attempt) if attempt < self.max_retries else None
                if wait is None or wait >= deadline.remaining():
                    raise LLMError(describe_error(exc, self._secret)) from exc
                log.info(
                    "LLM request failed (%s), retry %d of %d in %.2f s",
                    type(exc).__name__,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                time.sleep(wait)
                attempt += 1

    def _guarded(self, call):
        try:
            return call()
        except Exception as exc:  # see `_request`
            raise LLMError(describe_error(exc, self._secret)) from exc


@dataclass
class ParsedAnswer:
    text: str
    found: bool
    cited: list[int]  # fragment numbers in order of first citation
    dropped: int  # markers that named no given fragment


def _renumber(text: str, k: int, keep: bool) -> tuple[str, list[int], int]:
    """Renumber valid markers by first appearance; drop the others (all, when not `keep`)."""
    cited: list[int] = []
    dropped = 0

    def replace(match: re.Match) -> str:
        nonlocal dropped
        out: list[str] = []
        for part in re.findall(r"\d+", match.group(2)):
            n = int(part)
            if not keep:
                continue  # a "not found" answer cites nothing
            if not 1 <= n <= k:
                dropped += 1
                continue
            if n not in cited:
                cited.append(n)
            marker = f"[{cited.index(n) + 1}]"
            if marker not in out:
                out.append(marker)
        return match.group(1) + "".join(out) if out else ""

    return MARKER_RE.sub(replace, text), cited, dropped


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse_answer(raw: str, k: int) -> ParsedAnswer:
    """Clean the model's text: sentinel, markers, a trailing source list, reasoning blocks."""
    text = THINK_RE.sub("", raw)
    found = SENTINEL_RE.search(text) is None
    text = SENTINEL_RE.sub(" ", text)
    text = SOURCES_TAIL_RE.sub("", text)
    text, cited, dropped = _renumber(text, k, keep=found)
    return ParsedAnswer(_tidy(text), found, cited, dropped)


def holding_back(raw: str) -> bool:
    """True while the draft could still turn out to start with the sentinel (or is thinking)."""
    if "<think>" in raw and "</think>" not in raw:
        return True
    lead = _LEAD_RE.sub("", THINK_RE.sub("", raw)).replace(" ", "_")
    return len(lead) <= len(prompts.NOT_FOUND_SENTINEL) and prompts.NOT_FOUND_SENTINEL.startswith(
        lead
    )


def draft_text(raw: str, k: int) -> str:
    """What a reader may see of a partial answer."""
    if holding_back(raw):
        return ""
    return parse_answer(OPEN_MARKER_RE.sub("", raw), k).text


def leaks_prompt(text: str) -> bool:
    """Whether `text` repeats `LEAK_NGRAM` consecutive words of the system prompt (a prompt
    injection that worked), however the words are joined.

    Both sides are compared as bare lower-case letters, so a prompt written with `_`
    (a word character), `-`, `.`, zero-width spaces or nothing between its words, or
    with markers and digits slipped in, still matches."""
    letters = _letters(text)
    anchors, runs = _prompt_runs()
    # Every run holds an anchor; the short anchor list keeps the common case cheap,
    # as drafts are checked on every streamed chunk.
    return any(a in letters for a in anchors) and any(r in letters for r in runs)


def _letters(text: str) -> str:
    return _NON_LETTER_RE.sub("", _folded(text))


def _folded(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)  # full-width letters, accents, ligatures
    return text.casefold()


@lru_cache(maxsize=1)
def _prompt_runs() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The prompt's runs of `LEAK_NGRAM` words as letters, and anchors: runs of half as
    many words starting at every half-th word, so that each full run contains one."""
    words = [w for w in _NON_LETTER_RE.split(_folded(prompts.SYSTEM_PROMPT)) if w]
    half = max(1, LEAK_NGRAM // 2)
    runs = {"".join(words[i : i + LEAK_NGRAM]) for i in range(len(words) - LEAK_NGRAM + 1)}
    anchors = {"".join(words[i : i + half]) for i in range(0, len(words) - half + 1, half)}
    return tuple(anchors), tuple(runs)


def history_pairs(history: Sequence[Turn] | None) -> list[tuple[str, str]]:
    """The conversation's turns as plain (question, answer) pairs."""
    return [(t.question, t.answer) for t in history or []]


class Drafts:
    """Feeds `on_delta` with cleaned drafts, only when they change.

    Once a draft repeats the system prompt (an injection that worked), no further
    drafts are shown; the final answer is then rejected and replaced anyway.
    """

    def __init__(self, on_delta: Callable[[str], None] | None, k: int) -> None:
        self.on_delta = on_delta
        self.k = k
        self.shown = ""
        self.leaked = False

    def update(self, raw: str) -> None:
        if self.leaked or leaks_prompt(raw):
            self.leaked = True
            return
        self.show(draft_text(raw, self.k))

    def show(self, text: str) -> None:
        if self.on_delta is not None and text and text != self.shown:
            self.shown = text
            self.on_delta(text)


class LLMComposer:
    """Writes a cited Dutch answer with an LLM; falls back to the extractive answer."""

    mode = AnswerMode.LLM

    def __init__(
        self,
        settings: Settings,
        fallback: ExtractiveComposer | None = None,
        ask_when_not_found: bool = True,
        max_tokens: int = ANSWER_MAX_TOKENS,
    ) -> None:
        secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        model = chat_model(settings, settings.llm_temperature, max_tokens)
        self.caller = ChatCaller(model, secret, settings)
        self.fallback = fallback or ExtractiveComposer()
        self.ask_when_not_found = ask_when_not_found
        self.scorer = SupportScorer(self.fallback.lexicon)

    def compose(
        self,
        retrieval: Retrieval,
        history: Sequence[Turn] | None = None,
        on_delta: Callable[[str], None] | None = None,
        deadline: Deadline | None = None,
    ) -> Composed:
        """Answer from `retrieval` with the LLM; see the module docstring for the contract."""
        if not retrieval.fragments or (
            retrieval.verdict is Verdict.NOT_FOUND and not self.ask_when_not_found
        ):
            return self.fallback.compose(retrieval, history)
        k = len(retrieval.fragments)
        messages = self.messages(retrieval, history)
        drafts = Drafts(on_delta, k)
        try:
            if on_delta is None:
                raw, usage = self.caller.invoke(messages, deadline)
            else:
                raw, usage = self.caller.stream(messages, drafts.update, deadline)
        except LLMError as exc:
            log.warning("LLM answer failed, sending the extractive answer: %s", exc)
            return self._fall_back(retrieval, history, drafts, {}, FallbackReason.FAILED)
        parsed = parse_answer(raw, k)
        support = None
        problem = self._unsupported(raw, parsed)
        if not problem and parsed.found:
            parsed, support = check_support(self.scorer, retrieval, parsed)
            if not parsed.cited:
                problem = "no cited sentence is supported by the fragments it cites"
        if problem:
            log.warning("LLM answer rejected (%s), sending the extractive answer", problem)
            composed = self._fall_back(retrieval, history, drafts, usage, FallbackReason.REJECTED)
            composed.support = support
            return composed
        if not parsed.found and not parsed.text:
            parsed.text = nl.NOT_FOUND
        drafts.show(parsed.text)
        if parsed.dropped:
            log.info("removed %d citation marker(s) naming no given fragment", parsed.dropped)
        removed = sum(not s.supported for s in support or [])
        if removed:
            log.info("removed %d cited sentence(s) their fragments do not support", removed)
        return Composed(
            parsed.text,
            parsed.found,
            self._citations(retrieval, parsed),
            self.mode,
            note=nl.unsupported_removed(removed) if removed else None,
            usage=usage,
            dropped_markers=parsed.dropped,
            support=support,
        )

    @staticmethod
    def messages(retrieval: Retrieval, history: Sequence[Turn] | None) -> list[BaseMessage]:
        fragments = [
            prompts.fragment_block(f.rank, f.episode.title, f.chunk.start_time, f.chunk.text)
            for f in retrieval.fragments
        ]
        user = prompts.answer_user_message(
            retrieval.question, fragments, history_pairs(history), retrieval.query
        )
        return [SystemMessage(prompts.SYSTEM_PROMPT), HumanMessage(user)]

    @staticmethod
    def _unsupported(raw: str, parsed: ParsedAnswer) -> str | None:
        if leaks_prompt(raw):
            return "it repeats the system prompt"
        if parsed.found and not parsed.text:
            return "empty answer"
        if parsed.found and not parsed.cited:
            return "no marker names a given fragment"
        return None

    def unavailable(
        self,
        retrieval: Retrieval,
        history: Sequence[Turn] | None = None,
        reason: FallbackReason = FallbackReason.SKIPPED,
    ) -> Composed:
        """The extractive answer with the note, for when the LLM cannot answer."""
        composed = self.fallback.compose(retrieval, history)
        composed.note = nl.LLM_UNAVAILABLE
        composed.fallback = reason
        return composed

    def _fall_back(
        self,
        retrieval: Retrieval,
        history: Sequence[Turn] | None,
        drafts: Drafts,
        usage: Usage,
        reason: FallbackReason,
    ) -> Composed:
        composed = self.unavailable(retrieval, history, reason)
        composed.usage = usage
        if drafts.shown:  # replace the partial draft the reader has seen
            drafts.show(composed.text)
        return composed

    @staticmethod
    def _citations(retrieval: Retrieval, parsed: ParsedAnswer) -> list[Citation]:
        by_rank = {f.rank: f for f in retrieval.fragments}
        claims = claims_by_marker(parsed.text)
        taken: list[Passage] = []
        for n, rank in enumerate(parsed.cited, start=1):
            taken.append(claim_passage(retrieval, by_rank[rank], claims.get(n, ""), taken))
        return [passage_citation(n, p) for n, p in enumerate(taken, start=1)]


def check_support(
    scorer: SupportScorer, retrieval: Retrieval, parsed: ParsedAnswer
) -> tuple[ParsedAnswer, list[SentenceSupport]]:
    """Score each cited sentence against its fragments; drop the unsupported ones.

    Returns the answer without them (markers renumbered, `cited` the fragments still
    cited) and every cited sentence with its score. When no cited sentence is
    supported, the answer comes back unchanged but with nothing cited: the caller
    rejects it, so an answer never ends up empty."""
    by_rank = {f.rank: f for f in retrieval.fragments}
    sources: dict[int, SourceText] = {}

    def source(rank: int) -> SourceText:
        if rank not in sources:
            fragment = by_rank[rank]
            sources[rank] = scorer.source(f"{fragment.episode.title}\n{fragment.chunk.text}")
        return sources[rank]

    checked: list[tuple[Sentence, SentenceSupport]] = []
    for sentence in sentences(parsed.text):
        if not sentence.markers:
            continue
        ranks = [parsed.cited[n - 1] for n in sentence.markers]
        score = scorer.score(sentence.text, [source(r) for r in ranks])
        bare = " ".join(PLAIN_MARKER_RE.sub(" ", sentence.text).split())
        bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
        checked.append((sentence, SentenceSupport(bare, ranks, _round(score), is_supported(score))))
    support = [s for _, s in checked]
    if not any(s.supported for s in support):
        return ParsedAnswer(parsed.text, parsed.found, [], parsed.dropped), support
    text = parsed.text
    for sentence, s in reversed(checked):
        if not s.supported:
            text = text[: sentence.start] + text[sentence.end :]
    text, kept, _ = _renumber(text, len(parsed.cited), keep=True)
    cited = [parsed.cited[n - 1] for n in kept]
    return ParsedAnswer(_tidy(text), parsed.found, cited, parsed.dropped), support


def _round(score: float | None) -> float | None:
    return None if score is None else round(score, 3)


def claims_by_marker(text: str) -> dict[int, str]:
    """For each `[n]`, the words it stands behind: back to the previous marker or the start
    of the sentence (the whole sentence part when that is very short)."""
    claims: dict[int, list[str]] = {}
    for match in re.finditer(r"\[(\d+)\]", text):
        head = text[: match.start()]
        sentence_start = max(head.rfind(sep) for sep in (". ", "? ", "! ", "\n")) + 1
        sentence = head[sentence_start:]
        own = re.split(r"\[\d+\]", sentence)[-1]
        claim = own if len(own.split()) >= 3 else re.sub(r"\[\d+\]", " ", sentence)
        claims.setdefault(int(match.group(1)), []).append(claim)
    return {n: " ".join(parts) for n, parts in claims.items()}


def claim_passage(
    retrieval: Retrieval, fragment: Fragment, claim: str, taken: list[Passage]
) -> Passage:
    """The window of `fragment` that shares most words with `claim`.

    Ties go to windows that do not repeat an earlier citation's quote, then to the
    passages retrieval scored against the question (best first), then to the
    fragment's other windows in reading order.
    """
    words = ChunkWords(fragment, retrieval.units)
    weights = dict.fromkeys(search_tokens(claim), 1.0)
    scored = [p for p in retrieval.passages if p.fragment.rank == fragment.rank]
    n_words = len(words.spans)
    windows = [
        words.passage(first, min(n_words, first + PASSAGE_WORDS), 0.0, 0.0)
        for first in range(0, max(1, n_words - PASSAGE_WORDS + 1), WINDOW_STEP)
    ]
    candidates = [*scored, *windows]

    def preference(item: tuple[int, Passage]) -> tuple[float, bool, int]:
        i, p = item
        fresh = not any(p.overlaps(t) for t in taken)
        return words.lexical(p.first, p.last, weights), fresh, -i

    return max(enumerate(candidates), key=preference)[1]


class QuestionRewriter:
    """Turns a follow-up into a standalone question for retrieval, with the LLM."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self.caller = ChatCaller(chat_model(settings, 0.0, REWRITE_MAX_TOKENS), secret, settings)

    def rewrite(
        self, question: str, history: Sequence[Turn], deadline: Deadline | None = None
    ) -> tuple[str | None, Usage]:
        """The standalone question, or None when the model failed or gave nothing usable."""
        messages = [
            SystemMessage(prompts.REWRITE_PROMPT),
            HumanMessage(prompts.rewrite_user_message(question, history_pairs(history))),
        ]
        try:
            raw, usage = self.caller.invoke(messages, deadline)
        except LLMError as exc:
            log.warning("question rewrite failed, using the heuristic: %s", exc)
            return None, {}
        return clean_rewrite(raw), usage


def clean_rewrite(raw: str) -> str | None:
    """The first line of the model's reply, without quotes or a label; None if unusable."""
    text = THINK_RE.sub("", raw)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    line = re.sub(r"^(?:zelfstandige\s+)?(?:zoek)?vraag\s*:\s*", "", lines[0], flags=re.I)
    line = prompts.as_data(line.strip("\"'“”„ "))
    if not line or len(line) > REWRITE_MAX_CHARS:
        return None
    return line


class QueryPlanner:
    """Turns a question (and, for a follow-up, the conversation) into search queries.

    The first query is the question made standalone; the others say the same in other
    words and in the captions' spellings of names. Retrieval searches all of them. A
    failed call returns None and the caller searches the question itself."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self.caller = ChatCaller(chat_model(settings, 0.0, QUERIES_MAX_TOKENS), secret, settings)
        self.count = settings.llm_search_queries

    def plan(
        self, question: str, history: Sequence[Turn] | None, deadline: Deadline | None = None
    ) -> tuple[list[str] | None, Usage]:
        """Up to `count` queries, the standalone question first; None when unusable."""
        messages = [
            SystemMessage(prompts.SEARCH_QUERIES_PROMPT.format(n=self.count)),
            HumanMessage(prompts.search_queries_user_message(question, history_pairs(history))),
        ]
        try:
            raw, usage = self.caller.invoke(messages, deadline)
        except LLMError as exc:
            log.warning("search query planning failed, searching the question: %s", exc)
            return None, {}
        return parse_queries(raw, self.count), usage


_LIST_MARK_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s*")


def parse_queries(raw: str, count: int) -> list[str] | None:
    """The model's queries, one a line, without list marks, quotes or labels."""
    queries: list[str] = []
    for line in THINK_RE.sub("", raw).splitlines():
        line = _LIST_MARK_RE.sub("", line)
        line = re.sub(r"^(?:zoek(?:opdracht|vraag)?\s*\d*\s*:)\s*", "", line, flags=re.I)
        line = prompts.as_data(line.strip().strip("\"'“”„ "))
        if line and len(line) <= REWRITE_MAX_CHARS and line not in queries:
            queries.append(line)
    return queries[:count] or None


def build_composer(settings: Settings):
    """The LLM composer when a key or base URL is configured, else the extractive one."""
    extractive = ExtractiveComposer(lexicon=load_lexicon(settings.lexicon_file))
    return LLMComposer(settings, fallback=extractive) if settings.llm_enabled else extractive


def build_rewriter(settings: Settings) -> QuestionRewriter | None:
    """The follow-up rewriter, when an LLM is configured and does not plan queries."""
    if not settings.llm_enabled or settings.llm_search_queries > 0:
        return None
    return QuestionRewriter(settings)


def build_planner(settings: Settings) -> QueryPlanner | None:
    if not settings.llm_enabled or settings.llm_search_queries <= 0:
        return None
    return QueryPlanner(settings)
