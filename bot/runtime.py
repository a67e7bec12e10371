"""The shared objects of a running bot, kept in `bot_data` under one key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.ext import ContextTypes

from bot.stats import Stats

if TYPE_CHECKING:
    from bot.access import AccessPolicy
    from bot.limits import QuestionLimiter
    from bot.settings import BotSettings
    from bot.state import StateStore
    from rag.service import AnswerService

RUNTIME_KEY = "runtime"


class ChatLocks:
    """One lock per chat: questions in a chat are answered in order, chats run in parallel."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:  # nobody waiting: don't keep a lock per chat forever
                del self._users[chat_id]
                del self._locks[chat_id]


@dataclass
class Runtime:
    settings: BotSettings
    service: AnswerService
    store: StateStore
    access: AccessPolicy
    limiter: QuestionLimiter
    stats: Stats = field(default_factory=Stats)
    chat_locks: ChatLocks = field(default_factory=ChatLocks)
    reindex_running: bool = False


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    """The bot's shared objects (set up in `post_init`)."""
    return context.bot_data[RUNTIME_KEY]
