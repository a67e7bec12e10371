"""Handler decorators that apply the access policy (`bot.access`): members only, admins only."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.access import AccessPolicy
from bot.runtime import runtime
from bot.telegram_io import reply_html

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


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
    """Run the handler only for admins, and only in a private chat (its output is not for groups).

    Everyone else's attempt is logged with their user id.
    """

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        user_id = user.id if user else None
        if not _policy(context).is_admin(user_id):
            log.warning("non-admin user %s tried admin action %s", user_id, handler.__name__)
            await refuse(update, msg.ADMIN_ONLY)
            return
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            log.info("admin %s tried %s outside a private chat", user_id, handler.__name__)
            await refuse(update, msg.ADMIN_PRIVATE_ONLY)
            return
        await handler(update, context)

    return wrapper
