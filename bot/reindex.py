"""Admin `/reindex`: an incremental build in a worker thread, progress edited into one message."""

from __future__ import annotations

import asyncio
import logging

from telegram import Message
from telegram.constants import ParseMode

from bot import messages as msg
from bot.formatting import render_report
from bot.runtime import Runtime
from bot.telegram_io import EDIT_INTERVAL_S, ThrottledEdits, reply_html, send_parts, thread_of
from rag.index import IndexBusyError, IndexReport

log = logging.getLogger(__name__)


class ProgressMessage:
    """Edits one status message with the build's progress, throttled, skipping repeats."""

    def __init__(
        self,
        message: Message,
        loop: asyncio.AbstractEventLoop,
        interval: float = EDIT_INTERVAL_S,
    ) -> None:
        self.message = message
        self._text: str | None = None
        self._edits: ThrottledEdits[tuple[int, int]] = ThrottledEdits(
            self._show_progress, loop, interval=interval, what="progress edit"
        )

    def report(self, done: int, total: int) -> None:
        """Progress callback for the worker thread: hand the numbers to the event loop."""
        self._edits.hand_over((done, total))

    async def _show_progress(self, progress: tuple[int, int]) -> None:
        done, total = progress
        percent = round(100 * done / total) if total else 100
        await self.edit(msg.REINDEX_PROGRESS.format(done=done, total=total, percent=percent))

    async def edit(self, text: str) -> None:
        if text == self._text:
            return  # Telegram refuses edits that change nothing
        self._text = text
        self._edits.edited()
        await self.message.edit_text(text, parse_mode=ParseMode.HTML)

    async def stop(self) -> None:
        """Drop a progress edit that is still waiting its turn."""
        await self._edits.stop()

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
