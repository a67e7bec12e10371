"""From a question in a chat to a cited answer in Telegram: the one place answers are sent.

`answer_question` checks the user's question limit (`bot.limits`), composes (the service's
`ask_async`: LLM calls in their own bounded executor, retrieval in worker threads, one
deadline per answer) and `LiveAnswer` delivers.
Without an LLM the finished answer is sent as before. With one, the model's draft grows
in place while it streams:

- The first draft is sent as soon as it arrives (no placeholder: "typing…" covers the
  wait, and a provider that fails before its first token costs the chat no extra message).
- Drafts are plain text, escaped and split like final answers (`render_answer`), so every
  edit is valid HTML under 4096 UTF-16 units. A draft that outgrows a message continues in
  a new one; the greedy paragraph packing keeps the earlier messages unchanged from then on.
- The worker thread hands each draft to the event loop (`ThrottledEdits`): only the latest
  is kept and one task edits at most once per `EDIT_INTERVAL_S`, skipping texts that did
  not change.
- A draft that repeats the system prompt (an injection that worked) is never shown.
- The final answer (sources, Bronnen button, note) replaces the draft in the same messages,
  also after the throttle; surplus draft messages are deleted. If composing fails, the
  draft is deleted before the error handler apologises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from telegram import InlineKeyboardMarkup, Message
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.examples import example_questions
from bot.formatting import answer_keyboard, clean, escape, render_answer
from bot.runtime import Runtime, runtime
from bot.telegram_io import (
    EDIT_INTERVAL_S,
    ThrottledEdits,
    edit_html,
    reply_html,
    send_html,
    thread_of,
    typing,
)
from rag import messages_nl as nl
from rag.answer import Answer
from rag.llm import leaks_prompt
from rag.service import more_of_nothing
from rag.smalltalk import small_talk_reply

log = logging.getLogger(__name__)

HISTORY_TURNS = 3  # turns of chat memory handed to the service for follow-ups
MAX_QUESTION_CHARS = 1000


class LiveAnswer:
    """The messages of one answer: a streamed draft edited in place, then the final answer.

    `on_delta` callbacks run on the service's worker thread; everything else runs on the
    event loop (where it is created). Used as `async with`: an exception deletes the draft
    the user has seen.
    """

    def __init__(
        self, question: Message, interval: float = EDIT_INTERVAL_S, header: str | None = None
    ) -> None:
        self.question = question
        self.header = header  # HTML shown above drafts and the answer (a voice transcript)
        self.messages: list[Message] = []
        self.first_sent_at: float | None = None  # monotonic time of the first message
        self._shown: list[tuple[str, InlineKeyboardMarkup | None]] = []
        self._drafted = False  # a draft was shown (the extractive answer is sent whole)
        # A lost draft edit is cosmetic: the final answer is shown (or sent) regardless.
        self._drafts: ThrottledEdits[str] = ThrottledEdits(
            self._show_draft, asyncio.get_running_loop(), interval=interval, what="draft edit"
        )

    async def __aenter__(self) -> LiveAnswer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, Exception) and self._drafted:
            await self.discard()
        else:  # cancelled (shutdown): just stop editing
            self._drafts.cancel()

    def on_delta(self) -> Callable[[str], None]:
        """The service's streaming callback: hands each draft to the event loop."""

        def hand_over(draft: str) -> None:
            # The service rejects an answer that repeats the system prompt only once it is
            # complete; its drafts must not show it meanwhile.
            if leaks_prompt(draft):
                return
            self._drafts.hand_over(draft)

        return hand_over

    async def _show_draft(self, draft: str) -> None:
        self._drafted = True
        await self._sync(render_answer(draft, [], header=self.header))

    async def finish(self, answer: Answer, answer_id: int) -> list[Message]:
        """Show the final answer: sources listed, a Bronnen button on the last part."""
        await self._drafts.stop()
        parts = render_answer(answer.text, answer.citations, answer.note, self.header)
        markup = answer_keyboard(answer_id, sources=bool(answer.citations), verdict=answer.verdict)
        if self.messages:
            await self._drafts.wait_turn()
        await self._sync(parts, markup)
        return self.messages

    async def discard(self) -> None:
        """Delete whatever draft was shown (composing failed; the error handler explains)."""
        await self._drafts.stop()
        with contextlib.suppress(TelegramError):
            await self._sync([])

    async def _sync(self, parts: Sequence[str], markup: InlineKeyboardMarkup | None = None) -> None:
        """Make the messages show `parts`: edit what changed, send what is new, drop the rest."""
        for i, part in enumerate(parts):
            wanted = (part, markup if i == len(parts) - 1 else None)
            if i == len(self.messages):
                self._drafts.edited()
                self.messages.append(await self._send(i, *wanted))
                self._shown.append(wanted)
            elif self._shown[i] != wanted:
                self._drafts.edited()
                self.messages[i] = await edit_html(self.messages[i], *wanted)
                self._shown[i] = wanted
        while len(self.messages) > len(parts):
            surplus = self.messages.pop()
            self._shown.pop()
            await surplus.delete()

    async def _send(self, i: int, text: str, markup: InlineKeyboardMarkup | None) -> Message:
        question = self.question
        sent = await send_html(
            question.get_bot(),
            question.chat_id,
            text,
            reply_to=question.message_id if i == 0 else None,
            thread_id=thread_of(question),
            markup=markup,
        )
        if self.first_sent_at is None:
            self.first_sent_at = time.monotonic()
        return sent


def precheck(rt: Runtime, question: str) -> str | None:
    """A reply for input that is not worth a search (empty, no words, too long, small
    talk) or that cannot be answered yet (the first index is still being built), else
    None."""
    if rt.service.index is None and rt.reindex_running:
        return msg.INDEX_MISSING_BUILDING
    if len(question) > MAX_QUESTION_CHARS:
        return msg.TOO_LONG.format(length=len(question), limit=MAX_QUESTION_CHARS)
    if question and any(ch.isalnum() for ch in question):
        reply = small_talk_reply(question)  # "bedankt!": a reply, not an answer to remember
        return None if reply is None else escape(reply)
    template = msg.NO_WORDS if question else msg.EMPTY_QUESTION
    return template.format(example=escape(example_questions(rt.service.index, 1)[0]))


async def within_limit(rt: Runtime, message: Message) -> bool:
    """Count the question against its user's limit; the first one over it gets a reply."""
    user_id = message.from_user.id if message.from_user else message.chat_id
    admission = rt.limiter.admit(user_id)  # before any await: a burst is counted in order
    if admission.allowed:
        return True
    if not admission.tell:
        log.debug("user %s is over the question limit: question dropped", user_id)
        return False
    log.info("user %s is over the question limit: told to wait %.0f s", user_id, admission.wait_s)
    seconds = max(2, math.ceil(admission.wait_s))
    await reply_html(message, msg.TOO_MANY_QUESTIONS.format(seconds=seconds))
    return False


async def answer_question(
    context: ContextTypes.DEFAULT_TYPE,
    message: Message,
    question: str,
    *,
    header: str | None = None,
    admitted: bool = False,
) -> None:
    """Answer `question` asked in `message`'s chat, with the chat's memory and sources.

    `header` (HTML) opens the answer; `admitted`: the question was already counted against
    the user's limit (a voice note is counted before it is transcribed)."""
    rt = runtime(context)
    started = time.monotonic()
    if not admitted and not await within_limit(rt, message):
        return
    question = clean(question).strip()
    refusal = precheck(rt, question)
    if refusal is not None:
        await reply_html(message, refusal)
        return
    chat_id = message.chat_id
    async with rt.chat_locks.hold(chat_id), LiveAnswer(message, header=header) as live:
        # Only an LLM streams; the extractive answer is sent whole, as soon as it is ready.
        on_delta = live.on_delta() if rt.settings.llm_enabled else None
        async with typing(context.bot, chat_id, thread_of(message)):
            history = await rt.store.run(rt.store.history, chat_id, HISTORY_TURNS)
            if more_of_nothing(question, history):  # "meer" first: a reply, like small talk
                await reply_html(message, escape(nl.MORE_OF_WHAT))
                return
            answer = await rt.service.ask_async(question, history, on_delta)
            answer_id = await rt.store.run(rt.store.add_answer, chat_id, answer)
        await live.finish(answer, answer_id)
    elapsed_ms = (time.monotonic() - started) * 1000
    rt.stats.record(answer.found, elapsed_ms)
    first_ms = ((live.first_sent_at or started) - started) * 1000
    log.info(
        "answered chat=%s mode=%s found=%s fallback=%s history=%d parts=%d in %.0f ms "
        "(first message after %.0f ms, service %.0f ms)",
        chat_id,
        answer.mode,
        answer.found,
        answer.fallback is not None,
        len(history),
        len(live.messages),
        elapsed_ms,
        first_ms,
        answer.timings_ms.get("total", 0.0),
    )
