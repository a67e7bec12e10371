"""What users tell the makers besides their questions: the comment after a 👎, and the
questions the archive could not answer (the content gaps in `/stats`).

The 👎 comment: after a user votes 👎 under an answer (`handlers.feedback_button`), the bot
asks, optionally, what was wrong, with a button "Overslaan". The user's next text message
in that chat (in a group: one addressed to the bot, e.g. a reply) is stored as the comment
of that vote instead of being answered as a question; so is the transcript of a voice note
(`bot.voice`; a note that is refused or cannot be transcribed leaves the request open).
"overslaan" (typed, spoken or the button) skips. The request lapses after `COMMENT_WAIT_S`,
when the user sends a command, or votes 👍 on that answer (a 👎 on another answer asks
about that one instead), so nobody is stuck in it. Requests are in memory only: after a
restart the next message is a question again. A comment longer than `MAX_QUESTION_CHARS`
is refused like a long question, and the request stays open.

Admins read the latest comments with `/opmerkingen` (the question and the comment, no
user ids); `/stats` counts them and lists the five most asked questions the archive had
no sure answer to, grouped by meaning like the webinar export (`bot.grouping`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MaybeInaccessibleMessage,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import messages as msg
from bot.answering import MAX_QUESTION_CHARS
from bot.formatting import clean, escape, fold, pack, shorten
from bot.grouping import cluster, question_vectors
from bot.guards import admins_only
from bot.runtime import runtime
from bot.telegram_io import message_of, query_of, reply_html, send_html, send_parts

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from bot.runtime import Runtime
    from bot.state import AskedQuestion, FeedbackComment, StoredAnswer

log = logging.getLogger(__name__)

COMMENT_WAIT_S = 600.0  # a 👎 comment request lapses after 10 minutes
MAX_PENDING_COMMENTS = 10_000  # the oldest request goes first beyond this
SKIP_CALLBACK = "fbs:"
SKIP_PATTERN = r"^fbs:\d{1,19}$"
SKIP_WORDS = frozenset({"overslaan", "sla over", "skip"})
COMMENTS_SHOWN = 10  # /opmerkingen
COMMENT_QUESTION_CHARS = 200
GAPS_SHOWN = 5
GAP_CANDIDATES = 60  # distinct wordings embedded for /stats (about 30 ms each)
GAP_QUESTIONS = 5000  # the latest unanswered questions counted
GAP_QUESTION_CHARS = 150
PENDING_COMMENTS_KEY = "pending_comments"


# ------------------------------------------------------------------------ comment requests


@dataclass(frozen=True)
class CommentRequest:
    """The bot asked a user, in a chat, what was wrong with an answer they voted 👎."""

    answer_id: int
    question: str
    prompt_id: int | None  # the bot's message with the "Overslaan" button
    expires_at: float  # time.monotonic()


class PendingComments:
    """Open comment requests by (chat id, user id): one per user per chat, the latest."""

    def __init__(self, wait_s: float = COMMENT_WAIT_S) -> None:
        self.wait_s = wait_s
        self._items: dict[tuple[int, int], CommentRequest] = {}

    def add(self, chat_id: int, user_id: int, request: CommentRequest) -> None:
        self._items.pop((chat_id, user_id), None)  # re-added last: the newest
        while len(self._items) >= MAX_PENDING_COMMENTS:
            del self._items[next(iter(self._items))]
        self._items[(chat_id, user_id)] = request

    def get(self, chat_id: int, user_id: int) -> CommentRequest | None:
        """The open request, or None (an expired one is dropped)."""
        request = self._items.get((chat_id, user_id))
        if request is not None and time.monotonic() >= request.expires_at:
            del self._items[(chat_id, user_id)]
            return None
        return request

    def take(self, chat_id: int, user_id: int) -> CommentRequest | None:
        request = self.get(chat_id, user_id)
        if request is not None:
            del self._items[(chat_id, user_id)]
        return request

    def drop(self, chat_id: int, user_id: int, answer_id: int | None = None) -> bool:
        """Forget the request (only if it is about `answer_id`, when given)."""
        request = self._items.get((chat_id, user_id))
        if request is None or (answer_id is not None and request.answer_id != answer_id):
            return False
        del self._items[(chat_id, user_id)]
        return True

    def __len__(self) -> int:
        return len(self._items)


def pending_comments(bot_data: dict) -> PendingComments:
    """The application's open comment requests."""
    return bot_data.setdefault(PENDING_COMMENTS_KEY, PendingComments())


def skip_markup(answer_id: int) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        msg.FEEDBACK_SKIP_BUTTON, callback_data=f"{SKIP_CALLBACK}{answer_id}"
    )
    return InlineKeyboardMarkup([[button]])


async def after_vote(
    context: ContextTypes.DEFAULT_TYPE,
    answer_message: MaybeInaccessibleMessage | None,
    stored: StoredAnswer,
    user_id: int,
    vote: int,
    previous: int | None,
) -> None:
    """After a vote: a new 👎 asks what was wrong; a 👍 ends a request about that answer."""
    if answer_message is None:
        return
    chat_id = answer_message.chat.id
    pending = pending_comments(context.bot_data)
    if vote > 0:
        pending.drop(chat_id, user_id, stored.id)
        return
    if previous == vote:  # the same 👎 again: asked already
        return
    # Registered before the prompt is sent: a quick reply is a comment all the same.
    expires = time.monotonic() + pending.wait_s
    pending.add(chat_id, user_id, CommentRequest(stored.id, stored.question, None, expires))
    private = answer_message.chat.type == ChatType.PRIVATE
    text = msg.FEEDBACK_COMMENT_ASK if private else msg.FEEDBACK_COMMENT_ASK_GROUP
    minutes = round(pending.wait_s / 60)
    prompt = await send_html(
        context.bot,
        chat_id,
        text.format(limit=MAX_QUESTION_CHARS, minutes=minutes),
        reply_to=answer_message.message_id,
        thread_id=answer_message.message_thread_id if isinstance(answer_message, Message) else None,
        markup=skip_markup(stored.id),
    )
    request = pending.get(chat_id, user_id)
    if request is not None and request.answer_id == stored.id and request.prompt_id is None:
        pending.add(
            chat_id, user_id, CommentRequest(stored.id, stored.question, prompt.message_id, expires)
        )
    elif request is None or request.answer_id != stored.id:
        # Answered (or skipped, or replaced) while the prompt was on its way: the reply
        # could not remove a button it did not know of yet.
        await _remove_skip_button(context, chat_id, prompt.message_id)
    log.info("asked user %s for a comment on answer %s", user_id, stored.id)


async def lapse_on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any command ends the user's comment request in that chat (and then runs as usual)."""
    message = message_of(update)
    user = update.effective_user
    if user is None or message is None:
        return
    if pending_comments(context.bot_data).drop(message.chat_id, user.id):
        log.info("comment request of user %s lapsed: a command", user.id)


async def capture_comment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the user's text as the comment of their 👎, or skip; otherwise do nothing, so
    the message is answered as a question. Stops further handlers when it was a comment."""
    message = message_of(update)
    user = update.effective_user
    if user is None or message is None:
        return
    request = pending_comments(context.bot_data).take(message.chat_id, user.id)
    if request is None:  # taken before any await: one message is the comment
        return
    text = clean(message.text or "")
    if message.chat.type != ChatType.PRIVATE and context.bot.username:
        text = re.sub(rf"@{re.escape(context.bot.username)}\b", " ", text, flags=re.IGNORECASE)
    await file_comment(context, message, user.id, request, text.strip())
    raise ApplicationHandlerStop


async def file_comment(
    context: ContextTypes.DEFAULT_TYPE,
    message: Message,
    user_id: int,
    request: CommentRequest,
    text: str,
) -> None:
    """Store `text` (typed, or a voice note's transcript) as the comment of `request`, which
    was taken from the pending requests already, or skip, with a reply to `message`. A
    comment too long (or empty) puts the request back, so another one may follow."""
    pending = pending_comments(context.bot_data)
    chat_id = message.chat_id
    rt = runtime(context)
    if len(text) > MAX_QUESTION_CHARS:
        pending.add(chat_id, user_id, request)  # the request stays: a shorter one may follow
        await reply_html(
            message,
            msg.FEEDBACK_COMMENT_TOO_LONG.format(length=len(text), limit=MAX_QUESTION_CHARS),
        )
        return
    if not text:  # only a mention of the bot: nothing to store, the request stays
        pending.add(chat_id, user_id, request)
        return
    if fold(text).casefold().strip(" .!") in SKIP_WORDS:
        log.info("user %s skipped the comment on answer %s", user_id, request.answer_id)
        await reply_html(message, msg.FEEDBACK_COMMENT_SKIPPED)
    else:
        saved = await rt.store.run(
            rt.store.add_feedback_comment, request.answer_id, user_id, request.question, text
        )
        if saved:
            log.info("user %s commented on answer %s", user_id, request.answer_id)
        await reply_html(
            message, msg.FEEDBACK_COMMENT_SAVED if saved else msg.FEEDBACK_COMMENT_GONE
        )
    await _remove_skip_button(context, chat_id, request.prompt_id)


async def skip_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Overslaan" under the comment request: only the voter's own request is skipped."""
    query, data = query_of(update)
    answer_id = int(data.removeprefix(SKIP_CALLBACK))
    prompt = query.message
    pending = pending_comments(context.bot_data)
    if prompt is None or not pending.drop(prompt.chat.id, query.from_user.id, answer_id):
        await query.answer(msg.FEEDBACK_SKIP_NOT_PENDING)
        return
    log.info("user %s skipped the comment on answer %s", query.from_user.id, answer_id)
    await query.answer(msg.FEEDBACK_COMMENT_SKIPPED)
    await _remove_skip_button(context, prompt.chat.id, prompt.message_id)


async def _remove_skip_button(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, prompt_id: int | None
) -> None:
    if prompt_id is None:
        return
    try:  # a button that does nothing any more; a double press may have removed it already
        await context.bot.edit_message_reply_markup(chat_id, prompt_id, reply_markup=None)
    except TelegramError as exc:
        log.debug("could not remove the skip button: %s", exc)


# ------------------------------------------------------------------------- admins' views


def render_comments(comments: Sequence[FeedbackComment], total: int) -> list[str]:
    """`/opmerkingen`: the latest comments with their question, newest first (HTML parts)."""
    if not comments:
        return [msg.FEEDBACK_COMMENTS_EMPTY]
    blocks = [msg.FEEDBACK_COMMENTS_HEADING.format(shown=len(comments), total=total)]
    for c in comments:
        blocks.append(
            msg.FEEDBACK_COMMENTS_LINE.format(
                when=datetime.fromtimestamp(c.commented_at).strftime("%Y-%m-%d %H:%M"),
                question=escape(shorten(fold(c.question), COMMENT_QUESTION_CHARS)),
                comment=escape(c.comment),
            )
        )
    return pack(blocks)


@admins_only
async def comments_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/opmerkingen`: the latest comments users gave with a 👎 (no user ids)."""
    rt = runtime(context)
    message = message_of(update)
    comments = await rt.store.run(rt.store.feedback_comments, COMMENTS_SHOWN)
    total = await rt.store.run(rt.store.comment_count)
    await send_parts(
        context.bot, message.chat_id, render_comments(comments, total), reply_to=message.message_id
    )


@dataclass(frozen=True)
class Gap:
    """A question (or several wordings of one) the archive had no sure answer to."""

    question: str  # the most asked wording
    times: int
    chats: int


def _key(question: str) -> str:
    """Wordings that differ only in case, spacing and punctuation are one."""
    return " ".join(re.sub(r"[^\w\s]", " ", question.casefold()).split())


def _wording(rows: Sequence[AskedQuestion]) -> str:
    """The wording asked most often (the first asked on a tie)."""
    oldest_first = sorted(rows, key=lambda r: r.created_at)
    counts = Counter(fold(r.question) for r in oldest_first)
    return max(counts, key=counts.__getitem__)  # max keeps the first of equal counts


def content_gaps(
    asked: Sequence[AskedQuestion],
    embedder: Embeddings | None,
    top: int = GAPS_SHOWN,
    candidates: int = GAP_CANDIDATES,
) -> list[Gap]:
    """The most asked unanswered questions: wordings that differ only in case and
    punctuation are counted together, then (with an embedder) the most asked
    `candidates` of them are grouped by meaning like the webinar export. Ranked by the
    number of chats that asked, then by times asked."""
    buckets: dict[str, list[AskedQuestion]] = {}
    for row in asked:
        key = _key(row.question)
        if key:
            buckets.setdefault(key, []).append(row)
    ranked = sorted(
        buckets.values(),
        key=lambda rows: (
            -len({r.chat_id for r in rows}),
            -len(rows),
            -max(r.created_at for r in rows),
        ),
    )[:candidates]
    groups: list[list[list[AskedQuestion]]] = [[rows] for rows in ranked]
    if embedder is not None and len(ranked) > 1:
        vectors = question_vectors(embedder, [rows[0].question for rows in ranked])
        groups = [[ranked[i] for i in members] for members in cluster(vectors)]
    gaps = []
    for group in groups:
        rows = [r for bucket in group for r in bucket]
        most_asked = max(group, key=len)  # ties: the earlier, i.e. higher ranked, bucket
        gaps.append(Gap(_wording(most_asked), len(rows), len({r.chat_id for r in rows})))
    gaps.sort(key=lambda g: (-g.chats, -g.times))
    return gaps[:top]


def render_insights(comments: int, gaps: Sequence[Gap]) -> str:
    """The part of `/stats` about comments and content gaps (HTML)."""
    text = msg.STATS_COMMENTS.format(count=comments)
    if not gaps:
        return text + msg.STATS_GAPS_NONE
    lines = [
        msg.STATS_GAP_LINE.format(
            n=n,
            question=escape(shorten(g.question, GAP_QUESTION_CHARS)),
            times=g.times,
            chats=g.chats,
            chat_word=msg.STATS_GAP_CHAT if g.chats == 1 else msg.STATS_GAP_CHATS,
        )
        for n, g in enumerate(gaps, start=1)
    ]
    return text + msg.STATS_GAPS_HEADING + "\n".join(lines)


async def stats_insights(rt: Runtime) -> str:
    """Comments and content gaps for `/stats`."""
    asked = await rt.store.run(rt.store.unanswered_questions, GAP_QUESTIONS)
    comments = await rt.store.run(rt.store.comment_count)
    try:
        gaps = await asyncio.to_thread(content_gaps, asked, rt.service.embedder)
    except Exception:  # the grouping by meaning is a bonus: count the wordings as they are
        log.exception("grouping the content gaps failed")
        gaps = content_gaps(asked, None)
    return render_insights(comments, gaps)
