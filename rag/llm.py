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
- Unsupported answers: an answer that claims to answer but cites no given
  fragment, comes back empty, or repeats the system prompt (an injection that
  worked) is not shown. The extractive answer is returned instead, with the
  one-line note. An uncited LLM claim cannot be checked by the reader, while the
  extractive answer is verbatim and cited, so the fallback is the safer choice.
- NOT_FOUND verdicts: the model is asked anyway (`ask_when_not_found`). On the dev
  set the retrieval threshold lets through many unanswerable questions anyway, so the
  model has to judge answerability in any case; asking it on NOT_FOUND too costs one
  call per out-of-scope question, recovers the rare answerable question the threshold
  misses, and lets the model name the nearest topic in a sentence instead of quoting
  a raw caption window.
- Failures: the provider call is the only code inside the guard. Timeouts, refused
  connections, 429/5xx (the openai client retries them `max_retries` times with
  backoff), 401, unknown models, undecodable payloads and streams that break halfway
  all end in the extractive answer plus `messages_nl.LLM_UNAVAILABLE`, mode
  "extractive". The cause is logged (type and message, key redacted).

Streaming (`on_delta`): the callback gets the whole cleaned draft so far (markers
renumbered, sentinel and unfinished markers held back), normally growing with each
call. It may also be called with a text that does *not* extend the previous one:
after a fallback it receives the extractive answer text once, which replaces the
draft, and at the end it receives the final text when post-processing changed the
last draft. Consumers should always show the latest text as a whole; the returned
`Answer` is authoritative (its `mode` and `note` say whether a fallback happened).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from rag import messages_nl as nl
from rag import prompts
from rag.answer import Citation, Composed, ExtractiveComposer, passage_citation
from rag.lexicon import load_lexicon
from rag.passages import PASSAGE_WORDS, WINDOW_STEP, ChunkWords, Passage
from rag.retrieval import Fragment, Retrieval, Verdict
from rag.settings import Settings
from rag.text import search_tokens

log = logging.getLogger(__name__)

# Placeholder key for servers without authentication (Ollama, vLLM, LM Studio, llama.cpp).
NO_KEY = "not-needed"
ANSWER_MAX_TOKENS = 1024
REWRITE_MAX_TOKENS = 120
REWRITE_MAX_CHARS = 300
QUERIES_MAX_TOKENS = 200
# Ten consecutive words of the system prompt in an answer mean the prompt leaked.
LEAK_NGRAM = 10

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


def usage_of(metadata: dict | None) -> Usage:
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
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else NO_KEY
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=key,
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        temperature=temperature,
        max_tokens=max_tokens,
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


class ChatCaller:
    """Runs one chat request, streamed or not, and turns any provider failure into LLMError."""

    def __init__(self, model: ChatOpenAI, secret: str | None) -> None:
        self.model = model
        self._secret = secret

    def invoke(self, messages: list[BaseMessage]) -> tuple[str, Usage]:
        reply = self._guarded(lambda: self.model.invoke(messages))
        return str(reply.text), usage_of(reply.usage_metadata)

    def stream(
        self, messages: list[BaseMessage], on_text: Callable[[str], None]
    ) -> tuple[str, Usage]:
        """Stream the reply; `on_text` gets the raw text so far after each chunk."""
        chunks = self._guarded(lambda: iter(self.model.stream(messages)))
        text, usage = "", {}
        while (chunk := self._guarded(lambda: next(chunks, None))) is not None:
            usage = add_usage(usage, usage_of(chunk.usage_metadata))
            piece = str(chunk.text)
            if piece:
                text += piece
                on_text(text)  # outside the guard: a consumer's error is not an LLM failure
        return text, usage

    def _guarded(self, call):
        try:
            return call()
        # Only the provider call runs here. The client libraries report failures with
        # many types (openai errors, httpx errors, json.JSONDecodeError for malformed
        # bodies, KeyError/TypeError for odd payloads); every one means "no LLM answer".
        except Exception as exc:
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


def history_pairs(history: Sequence | None) -> list[tuple[str, str]]:
    """`Turn`-like objects (question, answer) as plain pairs."""
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

    mode = "llm"

    def __init__(
        self,
        settings: Settings,
        fallback: ExtractiveComposer | None = None,
        ask_when_not_found: bool = True,
        max_tokens: int = ANSWER_MAX_TOKENS,
    ) -> None:
        secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self.caller = ChatCaller(chat_model(settings, settings.llm_temperature, max_tokens), secret)
        self.fallback = fallback or ExtractiveComposer()
        self.ask_when_not_found = ask_when_not_found

    def compose(
        self,
        retrieval: Retrieval,
        history: list | None = None,
        on_delta: Callable[[str], None] | None = None,
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
                raw, usage = self.caller.invoke(messages)
            else:
                raw, usage = self.caller.stream(messages, drafts.update)
        except LLMError as exc:
            log.warning("LLM answer failed, sending the extractive answer: %s", exc)
            return self._fall_back(retrieval, history, drafts, {})
        parsed = parse_answer(raw, k)
        problem = self._unsupported(raw, parsed)
        if problem:
            log.warning("LLM answer rejected (%s), sending the extractive answer", problem)
            return self._fall_back(retrieval, history, drafts, usage)
        if not parsed.found and not parsed.text:
            parsed.text = nl.NOT_FOUND
        drafts.show(parsed.text)
        if parsed.dropped:
            log.info("removed %d citation marker(s) naming no given fragment", parsed.dropped)
        return Composed(
            parsed.text,
            parsed.found,
            self._citations(retrieval, parsed),
            self.mode,
            usage=usage,
            dropped_markers=parsed.dropped,
        )

    @staticmethod
    def messages(retrieval: Retrieval, history: Sequence | None) -> list[BaseMessage]:
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

    def _fall_back(
        self, retrieval: Retrieval, history: list | None, drafts: Drafts, usage: Usage
    ) -> Composed:
        composed = self.fallback.compose(retrieval, history)
        composed.note = nl.LLM_UNAVAILABLE
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
        self.caller = ChatCaller(chat_model(settings, 0.0, REWRITE_MAX_TOKENS), secret)

    def rewrite(self, question: str, history: Sequence) -> tuple[str | None, Usage]:
        """The standalone question, or None when the model failed or gave nothing usable."""
        messages = [
            SystemMessage(prompts.REWRITE_PROMPT),
            HumanMessage(prompts.rewrite_user_message(question, history_pairs(history))),
        ]
        try:
            raw, usage = self.caller.invoke(messages)
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
        self.caller = ChatCaller(chat_model(settings, 0.0, QUERIES_MAX_TOKENS), secret)
        self.count = settings.llm_search_queries

    def plan(self, question: str, history: Sequence | None) -> tuple[list[str] | None, Usage]:
        """Up to `count` queries, the standalone question first; None when unusable."""
        messages = [
            SystemMessage(prompts.SEARCH_QUERIES_PROMPT.format(n=self.count)),
            HumanMessage(prompts.search_queries_user_message(question, history_pairs(history))),
        ]
        try:
            raw, usage = self.caller.invoke(messages)
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
