"""From a question in a chat to a cited answer in Telegram: the one place answers are sent.

The later LLM issue streams answers; it plugs in at `answer_question` (compose) and
`send_answer` (deliver), which are the only functions that know how an answer travels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.examples import example_questions
from bot.formatting import clean, escape, html_to_plain, render_answer, sources_keyboard
from bot.runtime import Runtime, runtime
from rag.answer import Answer

log = logging.getLogger(__name__)

HISTORY_TURNS = 3  # turns of chat memory handed to the service for follow-ups
MAX_QUESTION_CHARS = 1000
TYPING_INTERVAL_S = 4.0  # Telegram shows "typing…" for about 5 s per chat action
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # a video card per answer is too much


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int, thread_id: int | None = None) -> AsyncIterator[None]:
    """Show "typing…" in the chat now and every few seconds until the block ends."""

    async def keep_typing() -> None:
        while True:
            await bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
            await asyncio.sleep(TYPING_INTERVAL_S)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        # A failed chat action is cosmetic: it must not cost the user the answer.
        with contextlib.suppress(asyncio.CancelledError, TelegramError):
            await task


async def send_html(
    bot: Bot,
    chat_id: int,
    text: str,
    *,
    reply_to: int | None = None,
    thread_id: int | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send HTML; if Telegram cannot parse it after all, send the same text as plain text."""
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    kwargs = {
        "reply_parameters": reply,
        "message_thread_id": thread_id,
        "reply_markup": markup,
        "link_preview_options": NO_PREVIEW,
    }
    try:
        return await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, **kwargs)
    except BadRequest as exc:
        if "can't parse entities" not in exc.message.lower():
            raise
        log.warning("Telegram could not parse the HTML (%s); sending plain text", exc.message)
        return await bot.send_message(chat_id, html_to_plain(text), **kwargs)


async def reply_html(
    message: Message, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message:
    """Reply to a message (quoting it) with HTML, falling back to plain text."""
    return await send_html(
        message.get_bot(),
        message.chat_id,
        text,
        reply_to=message.message_id,
        thread_id=thread_of(message),
        markup=markup,
    )


async def send_parts(
    bot: Bot,
    chat_id: int,
    parts: Sequence[str],
    *,
    reply_to: int | None = None,
    thread_id: int | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send a split text: the first part quotes `reply_to`, the last carries `markup`."""
    sent: list[Message] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        sent.append(
            await send_html(
                bot,
                chat_id,
                part,
                reply_to=reply_to if i == 0 else None,
                thread_id=thread_id,
                markup=markup if last else None,
            )
        )
    return sent


def thread_of(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


async def send_answer(message: Message, answer: Answer, answer_id: int) -> list[Message]:
    """Deliver an answer: HTML parts, sources listed, a Bronnen button on the last part."""
    parts = render_answer(answer.text, answer.citations, answer.note)
    markup = sources_keyboard(answer_id) if answer.citations else None
    return await send_parts(
        message.get_bot(),
        message.chat_id,
        parts,
        reply_to=message.message_id,
        thread_id=thread_of(message),
        markup=markup,
    )


def precheck(rt: Runtime, question: str) -> str | None:
    """A reply for input that is not worth a search (empty, no words, too long), else None."""
    if len(question) > MAX_QUESTION_CHARS:
        return msg.TOO_LONG.format(length=len(question), limit=MAX_QUESTION_CHARS)
    if question and any(ch.isalnum() for ch in question):
        return None
    template = msg.NO_WORDS if question else msg.EMPTY_QUESTION
    return template.format(example=escape(example_questions(rt.service.index, 1)[0]))


async def answer_question(
    context: ContextTypes.DEFAULT_TYPE, message: Message, question: str
) -> None:
    """Answer `question` asked in `message`'s chat, with the chat's memory and sources."""
    rt = runtime(context)
    started = time.perf_counter()
    question = clean(question).strip()
    refusal = precheck(rt, question)
    if refusal is not None:
        await reply_html(message, refusal)
        return
    chat_id = message.chat_id
    async with rt.chat_locks.hold(chat_id):
        async with typing(context.bot, chat_id, thread_of(message)):
            history = await rt.store.run(rt.store.history, chat_id, HISTORY_TURNS)
            answer = await asyncio.to_thread(rt.service.ask, question, history)
            answer_id = await rt.store.run(rt.store.add_answer, chat_id, answer)
        await send_answer(message, answer, answer_id)
    elapsed_ms = (time.perf_counter() - started) * 1000
    rt.stats.record(answer.found, elapsed_ms)
    log.info(
        "answered chat=%s found=%s history=%d in %.0f ms (service %.0f ms)",
        chat_id,
        answer.found,
        len(history),
        elapsed_ms,
        answer.timings_ms.get("total", 0.0),
    )
