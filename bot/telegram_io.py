"""Telegram I/O: send, edit and reply in HTML (plain text if Telegram cannot parse it),
"typing…" while work runs, and throttled edits fed from worker threads.

`ThrottledEdits` is the one mechanism behind edits that follow work in a worker thread
(an answer's streamed drafts, `/reindex`'s progress): the thread hands each value to the
event loop, only the latest waiting value is kept, and one task shows it at most once per
`EDIT_INTERVAL_S` (Telegram's flood limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from bot.formatting import html_to_plain

log = logging.getLogger(__name__)

TYPING_INTERVAL_S = 4.0  # Telegram shows "typing…" for about 5 s per chat action
EDIT_INTERVAL_S = 1.0  # at most about one edit per second of a message that follows work
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # a video card per answer is too much

T = TypeVar("T")


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


def _cannot_parse(exc: BadRequest) -> bool:
    return "can't parse entities" in exc.message.lower()


def thread_of(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


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
    kwargs: dict[str, Any] = {
        "reply_parameters": reply,
        "message_thread_id": thread_id,
        "reply_markup": markup,
        "link_preview_options": NO_PREVIEW,
    }
    try:
        return await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, **kwargs)
    except BadRequest as exc:
        if not _cannot_parse(exc):
            raise
        log.warning("Telegram could not parse the HTML (%s); sending plain text", exc.message)
        return await bot.send_message(chat_id, html_to_plain(text), **kwargs)


async def edit_html(
    message: Message, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message:
    """Edit a message to HTML (plain text if Telegram cannot parse it); "not modified" is fine."""
    kwargs: dict[str, Any] = {"reply_markup": markup, "link_preview_options": NO_PREVIEW}
    try:
        edited = await message.edit_text(text, parse_mode=ParseMode.HTML, **kwargs)
    except BadRequest as exc:
        if "message is not modified" in exc.message.lower():
            return message
        if not _cannot_parse(exc):
            raise
        log.warning("Telegram could not parse the HTML (%s); editing to plain text", exc.message)
        edited = await message.edit_text(html_to_plain(text), **kwargs)
    return edited if isinstance(edited, Message) else message


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


class ThrottledEdits(Generic[T]):
    """Values from a worker thread shown on the event loop, at most once per `interval`.

    `hand_over` may be called from any thread; `show` runs on the loop for the latest value
    not shown yet, never while another `show` runs and never sooner than `interval` after
    the last edit (`edited()` records one, also one made outside `show`). A failed `show`
    is logged as "`what` failed": a lost intermediate edit is cosmetic.
    """

    def __init__(
        self,
        show: Callable[[T], Awaitable[None]],
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float = EDIT_INTERVAL_S,
        what: str = "edit",
    ) -> None:
        self.show = show
        self.loop = loop
        self.interval = interval
        self.what = what
        self.next_edit_at = 0.0  # monotonic time from which the next edit may be made
        self._waiting: tuple[T] | None = None  # the latest value not shown yet
        self._task: asyncio.Task[None] | None = None
        self._showing = False
        self._closed = False

    def hand_over(self, value: T) -> None:
        """Worker thread: hand `value` to the event loop (it replaces one still waiting)."""
        with contextlib.suppress(RuntimeError):  # the loop closed: the bot is shutting down
            self.loop.call_soon_threadsafe(self.push, value)

    def push(self, value: T) -> None:
        """Event loop: show `value` when its turn comes (dropped once stopped)."""
        if self._closed:
            return
        self._waiting = (value,)
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._show_waiting())
            self._task.add_done_callback(self._log_failure)

    def edited(self) -> None:
        """An edit was made just now: the next one waits a full interval."""
        self.next_edit_at = time.monotonic() + self.interval

    async def wait_turn(self) -> None:
        """Sleep until the next edit may be made."""
        await asyncio.sleep(max(0.0, self.next_edit_at - time.monotonic()))

    async def _show_waiting(self) -> None:
        while self._waiting is not None and not self._closed:
            wait = self.next_edit_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            (value,), self._waiting = self._waiting, None
            self._showing = True
            try:
                await self.show(value)
            finally:
                self._showing = False

    async def stop(self) -> None:
        """No more values: drop one waiting its turn, let an edit in flight land."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if not self._showing:
            task.cancel()
        await asyncio.wait([task])

    def cancel(self) -> None:
        """Stop at once, an edit in flight included (the task is being cancelled)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", self.what, task.exception())


def message_of(update: Update) -> Message:
    """The message of an update whose handler's filter guarantees one (a message, a command)."""
    message = update.effective_message
    if message is None:
        raise TypeError(f"update {update.update_id} has no message")
    return message


def query_of(update: Update) -> tuple[CallbackQuery, str]:
    """The button press of a callback-query update and its data (the handler's pattern)."""
    query = update.callback_query
    if query is None or query.data is None:
        raise TypeError(f"update {update.update_id} has no callback data")
    return query, query.data


def message_under(query: CallbackQuery) -> Message | None:
    """The message the pressed button is under, if the bot can still read it."""
    return query.message if isinstance(query.message, Message) else None


def user_of(update: Update) -> User:
    """The user of an update whose handler admits only users (`members_only`, `admins_only`)."""
    user = update.effective_user
    if user is None:
        raise TypeError(f"update {update.update_id} has no user")
    return user
