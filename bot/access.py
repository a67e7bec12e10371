"""Who may use the bot: admins, an optional allowlist, and subscribers who unlocked it."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable

from telegram import Update
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.answering import reply_html
from bot.runtime import runtime

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


class AccessPolicy:
    """Open to everyone unless ALLOWED_USER_IDS or SUBSCRIBER_CODES are set; admins always."""

    def __init__(
        self,
        admins: Iterable[int],
        allowed: Iterable[int],
        codes: Iterable[str],
        subscribers: Iterable[int] = (),
    ) -> None:
        self.admins = frozenset(admins)
        self.allowed = frozenset(allowed)
        self.codes = tuple(codes)
        self.subscribers = set(subscribers)

    @property
    def restricted(self) -> bool:
        return bool(self.allowed or self.codes)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    def may_ask(self, user_id: int | None) -> bool:
        if user_id is None:
            return False
        if not self.restricted or user_id in self.admins or user_id in self.allowed:
            return True
        return user_id in self.subscribers

    def valid_code(self, code: str) -> bool:
        """Constant-time comparison against every configured subscriber code."""
        given = code.encode()
        return any(hmac.compare_digest(given, c.encode()) for c in self.codes)

    def refusal(self) -> str:
        return msg.LOCKED if self.codes else msg.NOT_ALLOWED


async def refuse(update: Update, text: str) -> None:
    """Tell the user no, in the chat or as a popup for a button press."""
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    elif update.effective_message is not None:
        await reply_html(update.effective_message, text)


def _policy(context: ContextTypes.DEFAULT_TYPE) -> AccessPolicy:
    return runtime(context).access


def members_only(handler: Handler) -> Handler:
    """Run the handler only for users the access policy lets in."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        policy = _policy(context)
        user = update.effective_user
        if not policy.may_ask(user.id if user else None):
            log.info("refused user %s: not allowed", user.id if user else None)
            await refuse(update, policy.refusal())
            return
        await handler(update, context)

    return wrapper


def admins_only(handler: Handler) -> Handler:
    """Run the handler only for admins; log everyone else's attempt with their user id."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if not _policy(context).is_admin(user.id if user else None):
            log.warning(
                "non-admin user %s tried admin action %s",
                user.id if user else None,
                handler.__name__,
            )
            await refuse(update, msg.ADMIN_ONLY)
            return
        await handler(update, context)

    return wrapper
