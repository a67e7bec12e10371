"""Admin `/reindex`: an incremental build in a worker thread, progress edited into one message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from telegram import Message
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import messages as msg
from bot.answering import reply_html, send_parts, thread_of
from bot.formatting import render_report
from bot.runtime import Runtime
from rag.index import IndexBusyError, IndexReport

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0  # at most about one edit per second (Telegram's flood limits)


class ProgressMessage:
    """Edits one status message with the build's progress, throttled, skipping repeats."""

    def __init__(self, message: Message, loop: asyncio.AbstractEventLoop) -> None:
        self.message = message
        self.loop = loop
        self._text: str | None = None
        self._last_edit = 0.0
        self._latest: tuple[int, int] | None = None
        self._pending: asyncio.Task | None = None

    def report(self, done: int, total: int) -> None:
        """Progress callback for the worker thread: hand the numbers to the event loop."""
        self.loop.call_soon_threadsafe(self._update, done, total)

    def _update(self, done: int, total: int) -> None:
        self._latest = (done, total)
        if self._pending is None or self._pending.done():
            self._pending = self.loop.create_task(self._edit_progress())
            self._pending.add_done_callback(_log_failure)

    async def _edit_progress(self) -> None:
        wait = self._last_edit + PROGRESS_INTERVAL_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        done, total = self._latest or (0, 0)
        percent = round(100 * done / total) if total else 100
        await self.edit(msg.REINDEX_PROGRESS.format(done=done, total=total, percent=percent))

    async def edit(self, text: str) -> None:
        if text == self._text:
            return  # Telegram refuses edits that change nothing
        self._text = text
        self._last_edit = time.monotonic()
        await self.message.edit_text(text, parse_mode=ParseMode.HTML)

    async def stop(self) -> None:
        """Drop a progress edit that is still waiting its turn."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await self._pending

    async def finish(self, parts: list[str]) -> None:
        """Replace the progress with the first part of the result; send the rest below it."""
        await self.stop()
        await self.edit(parts[0])
        if parts[1:]:
            await send_parts(
                self.message.get_bot(),
                self.message.chat_id,
                parts[1:],
                thread_id=thread_of(self.message),
            )


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("progress edit failed: %s", task.exception())


async def run_reindex(rt: Runtime, request: Message) -> None:
    """Build the index in a worker thread and report to the admin who asked for it.

    Questions keep being answered from the old index meanwhile; the service swaps the new one
    in atomically when it is complete. `rt.reindex_running` is set by the caller and cleared
    as soon as the build is over, before the summary is sent.
    """
    report: IndexReport | None = None
    try:
        status = await reply_html(request, msg.REINDEX_STARTED)
        progress = ProgressMessage(status, asyncio.get_running_loop())
        log.info("reindex started by user %s", request.from_user.id if request.from_user else None)
        report = await asyncio.to_thread(rt.service.reindex, progress.report)
    except IndexBusyError:
        log.warning("reindex refused: another process is building the index")
    finally:
        rt.reindex_running = False
    await progress.finish(render_report(report) if report else [msg.REINDEX_BUSY])


async def build_missing_index(rt: Runtime) -> None:
    """First start without an index: build it in the background (questions wait politely)."""
    try:
        report = await asyncio.to_thread(rt.service.ensure_index)
        if report is not None:
            log.info("initial index built: %d episodes, %d chunks", report.episodes, report.chunks)
    finally:
        rt.reindex_running = False
