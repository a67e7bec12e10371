"""Telegram handlers: each converts an update and calls the answer service or the store.

Edited messages: a question that is edited is answered again (a new reply to the edited
message), exactly when the edited text would have been answered as a new message. Edited
commands other than /vraag are ignored, so editing an old "/reindex" never starts a build.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from pathlib import Path

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes, filters

from bot import feedback
from bot import messages as msg
from bot.answering import answer_question
from bot.examples import example_questions
from bot.formatting import (
    EPISODES_CALLBACK,
    FEEDBACK_CALLBACK,
    SOURCES_CALLBACK,
    EpisodeLine,
    escape,
    render_episodes,
    render_quotes,
    render_stats,
)
from bot.guards import admins_only, members_only
from bot.reindex import run_reindex
from bot.runtime import runtime
from bot.telegram_io import NO_PREVIEW, message_of, query_of, reply_html, send_parts, thread_of
from bot.uploads import (
    ConfirmationNeeded,
    PendingUpload,
    SavedTranscript,
    confirmation_markup,
    parse_choice,
    pending_uploads,
    render_confirmation,
    render_saved,
    sanitize_filename,
    save_transcript,
    upload_name,
)
from rag.messages_nl import skip_reason
from rag.transcripts import TranscriptError

log = logging.getLogger(__name__)

MB = 1024 * 1024
TELEGRAM_DOWNLOAD_LIMIT_MB = 20  # the Bot API's getFile limit
COMMAND_RE = re.compile(r"^/\S+\s*")


class _AddressedToBot(filters.MessageFilter):
    """Group messages meant for the bot: a mention of it, or a reply to one of its messages."""

    __slots__ = ()

    def filter(self, message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        mentions = message.parse_entities([MessageEntity.MENTION]).values()
        return any(m.lower() == mention for m in mentions)


ADDRESSED_TO_BOT = _AddressedToBot(name="AddressedToBot")
QUESTION = filters.TEXT & ~filters.COMMAND & (filters.ChatType.PRIVATE | ADDRESSED_TO_BOT)
# Stickers, photos, voice, locations, ...: in private chats, or in groups as a reply to the bot.
OTHER_INPUT = (
    ~filters.TEXT
    & ~filters.StatusUpdate.ALL
    & (
        (filters.ChatType.PRIVATE & ~filters.Document.ALL)
        | (filters.ChatType.GROUPS & ADDRESSED_TO_BOT)
    )
    & filters.UpdateType.MESSAGE
)
DOCUMENT = filters.Document.ALL & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
UNKNOWN_COMMAND = filters.COMMAND & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def without_mention(text: str, bot_username: str | None) -> str:
    """The question with `@bot` mentions taken out."""
    if not bot_username:
        return text
    return re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE)


def welcome_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    examples = example_questions(runtime(context).service.index, 3)
    lines = "\n".join(msg.EXAMPLE_LINE.format(question=escape(q)) for q in examples)
    return msg.WELCOME.format(examples=lines)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Welcome the user; `/start <code>` in a private chat unlocks a newsletter subscriber."""
    rt = runtime(context)
    message = message_of(update)
    user_id = update.effective_user.id if update.effective_user else None
    code = context.args[0] if context.args else None
    if code and rt.access.codes and message.chat.type != ChatType.PRIVATE:
        # Everyone in the group can read the code: don't check it, so it cannot be tried here.
        log.info("user %s sent /start with a code in group %s", user_id, message.chat_id)
        await reply_html(message, msg.CODE_PRIVATE_ONLY)
        return
    if code and rt.access.codes and user_id is not None and not rt.access.may_ask(user_id):
        await unlock_subscriber(update, context, user_id, code)
        return
    if not rt.access.may_ask(user_id):
        await reply_html(message, rt.access.refusal())
        return
    await reply_html(message, welcome_text(context))


async def unlock_subscriber(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int, code: str
) -> None:
    """Check a subscriber code, with a cool-down after too many wrong ones."""
    rt = runtime(context)
    message = message_of(update)
    fingerprint = rt.access.try_code(user_id, code)  # no await before: every guess is counted
    if fingerprint is None:
        wait = rt.access.attempts.wait(user_id)
        if wait:
            log.info("user %s: subscriber codes paused for %.0f s", user_id, wait)
            await reply_html(message, msg.CODE_COOLDOWN.format(minutes=math.ceil(wait / 60)))
            return
        log.info("user %s sent an unknown subscriber code", user_id)
        await reply_html(message, msg.CODE_INVALID)
        return
    await rt.store.run(rt.store.unlock, user_id, fingerprint)
    rt.access.add_subscriber(user_id, fingerprint)
    log.info("user %s unlocked the bot with a subscriber code", user_id)
    await reply_html(message, f"{msg.UNLOCKED}\n\n{welcome_text(context)}")


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what the bot does and how to use it in chats and groups."""
    rt = runtime(context)
    text = msg.HELP.format(
        bot_username=escape(context.bot.username or "bot"), days=rt.settings.state_retention_days
    )
    user_id = update.effective_user.id if update.effective_user else None
    private = update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE
    if private and rt.access.is_admin(user_id):  # admin commands work only in private chats
        text += msg.HELP_ADMIN
    await reply_html(message_of(update), text)


@members_only
async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a question: any text in a private chat, a mention or a reply in a group."""
    message = message_of(update)
    text = message.text or ""
    if message.chat.type != ChatType.PRIVATE:
        text = without_mention(text, context.bot.username)
    await answer_question(context, message, text)


@members_only
async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer `/vraag <question>` (the way to ask in groups without a mention)."""
    message = message_of(update)
    text = COMMAND_RE.sub("", message.text or "", count=1).strip()
    if not text:
        example = escape(example_questions(runtime(context).service.index, 1)[0])
        await reply_html(message, msg.VRAAG_USAGE.format(example=example))
        return
    await answer_question(context, message, text)


@members_only
async def episodes_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the indexed episodes, ten per page."""
    text, markup = render_episodes(_episode_lines(context), 0)
    await reply_html(message_of(update), text, markup)


@members_only
async def episodes_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show another page of the episode list (previous/next buttons)."""
    query, data = query_of(update)
    page = int(data.removeprefix(EPISODES_CALLBACK))
    text, markup = render_episodes(_episode_lines(context), page)
    await query.answer()
    if query.message is not None and query.message.is_accessible:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )


def _episode_lines(context: ContextTypes.DEFAULT_TYPE) -> list[EpisodeLine]:
    index = runtime(context).service.index
    if index is None:
        return []
    return [EpisodeLine(e.title, e.url) for e in index.episodes.values()]


@members_only
async def sources_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the quotes behind the last answer in this chat."""
    rt = runtime(context)
    message = message_of(update)
    stored = await rt.store.run(rt.store.last_answer, message.chat_id)
    if stored is None or not stored.citations:
        await reply_html(message, msg.NO_SOURCES)
        return
    await send_parts(
        context.bot,
        message.chat_id,
        render_quotes(stored.question, stored.citations),
        reply_to=message.message_id,
        thread_id=thread_of(message),
    )


@members_only
async def sources_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the quotes of the answer whose Bronnen button was pressed."""
    rt = runtime(context)
    query, data = query_of(update)
    pressed = query.message
    if pressed is None:
        raise TypeError("a Bronnen button press without its message")
    chat_id = pressed.chat.id
    answer_id = int(data.removeprefix(SOURCES_CALLBACK))
    stored = await rt.store.run(rt.store.get_answer, chat_id, answer_id)
    if stored is None or not stored.citations:
        await query.answer(msg.SOURCES_GONE, show_alert=True)
        return
    await query.answer(msg.SOURCES_SENT)
    await send_parts(
        context.bot,
        chat_id,
        render_quotes(stored.question, stored.citations),
        reply_to=pressed.message_id,
        thread_id=pressed.message_thread_id if isinstance(pressed, Message) else None,
    )


@members_only
async def feedback_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎 under an answer: one vote per user per answer; a second press changes it."""
    rt = runtime(context)
    query, data = query_of(update)
    answer_id, direction = data.removeprefix(FEEDBACK_CALLBACK).split(":")
    stored = None
    if query.message is not None:
        stored = await rt.store.run(rt.store.get_answer, query.message.chat.id, int(answer_id))
    if stored is None:
        await query.answer(msg.FEEDBACK_GONE)
        return
    vote = 1 if direction == "u" else -1
    previous = await rt.store.run(rt.store.vote, stored.id, query.from_user.id, vote)
    log.info("user %s voted %+d on answer %s", query.from_user.id, vote, stored.id)
    if previous is None:
        await query.answer(msg.FEEDBACK_THANKS)
    elif previous == vote:
        await query.answer(msg.FEEDBACK_SAME)
    else:
        await query.answer(msg.FEEDBACK_CHANGED)
    # A new 👎 asks what was wrong (optional); a 👍 ends such a request.
    await feedback.after_vote(context, query.message, stored, query.from_user.id, vote, previous)


@members_only
async def reset_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete this chat's questions and answers."""
    rt = runtime(context)
    message = message_of(update)
    deleted = await rt.store.run(rt.store.delete_chat, message.chat_id)
    log.info("chat %s reset its memory (%d answers deleted)", message.chat_id, deleted)
    await reply_html(message, msg.RESET_DONE)


# Not members_only: a user whose access was withdrawn may still have their data deleted.
async def forget_me_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete everything kept about the user except their subscriber unlock."""
    rt = runtime(context)
    user = update.effective_user
    if user is None:  # a channel post: there is no user to forget
        return
    deleted = await rt.store.run(rt.store.forget_user, user.id)
    log.info("user %s asked to be forgotten (%d answers deleted)", user.id, deleted)
    await reply_html(message_of(update), msg.FORGET_ME_DONE)


@admins_only
async def reindex_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start an incremental index build in the background; refuse a second one."""
    rt = runtime(context)
    if rt.reindex_running:
        await reply_html(message_of(update), msg.REINDEX_BUSY)
        return
    rt.reindex_running = True  # set before any await: a second /reindex sees it
    context.application.create_task(
        run_reindex(rt, message_of(update)), update=update, name="reindex"
    )


@admins_only
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show episodes, chunks, questions, not-found rate, answer times, LLM tokens, votes,
    the number of 👎 comments and the most asked questions the archive could not answer."""
    rt = runtime(context)
    index = rt.service.index
    episodes, chunks = (len(index.episodes), len(index.chunks)) if index else (0, 0)
    llm = rt.settings.llm_enabled
    snapshot = rt.stats.snapshot()
    started = time.time() - snapshot.uptime_s
    votes = (
        await rt.store.run(rt.store.feedback_counts),
        await rt.store.run(rt.store.feedback_counts, started),
    )
    text = render_stats(
        snapshot,
        episodes,
        chunks,
        usage=rt.service.usage_totals if llm else None,
        model=rt.settings.llm_model if llm else None,
        feedback=votes,
        voice=rt.settings.stt_enabled,
        reranker=rt.service.reranker.counts() if rt.service.reranker else None,
    )
    text += await feedback.stats_insights(rt)  # 👎 comments and content gaps
    await reply_html(message_of(update), text)


async def document_upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Validate an admin's transcript file and save it into the transcripts folder."""
    rt = runtime(context)
    message = message_of(update)
    document = message.document
    if document is None:  # the handler's filter lets only documents through
        raise TypeError("a document upload without a document")
    user_id = update.effective_user.id if update.effective_user else None
    if not rt.access.is_admin(user_id):
        log.warning("non-admin user %s tried to upload %r", user_id, document.file_name)
        await reply_html(message, msg.UPLOAD_ADMIN_ONLY)
        return
    name = sanitize_filename(document.file_name)
    limit_mb = min(rt.settings.max_transcript_mb, TELEGRAM_DOWNLOAD_LIMIT_MB)
    refusal = upload_refusal(name, document.file_size, limit_mb)
    if refusal is not None:
        await reply_html(message, refusal)
        return
    data = bytes(await (await document.get_file()).download_as_bytearray())
    name = upload_name(document.file_name, data)  # an emoji-only name: named after the content
    if name is None:  # an unsupported suffix, refused above
        raise TypeError("an upload without a usable name got past upload_refusal")
    folder = rt.settings.transcripts_dir
    max_bytes = int(limit_mb * MB)
    try:
        saved = await asyncio.to_thread(save_transcript, folder, name, data, max_bytes)
    except TranscriptError as exc:
        await reply_html(message, await _rejected_upload(folder, name, user_id, exc))
        return
    except ConfirmationNeeded as asked:
        token = pending_uploads(context.bot_data).add(PendingUpload(user_id, name, data, max_bytes))
        log.info("upload %s from %s awaits confirmation", name, user_id)
        await reply_html(message, render_confirmation(asked.plan), confirmation_markup(token))
        return
    _log_saved(user_id, saved)
    await reply_html(message, render_saved(saved))


async def upload_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The admin's answer to an upload's question: save it after all ("Vervangen") or not."""
    rt = runtime(context)
    query, data = query_of(update)
    user_id = query.from_user.id if query.from_user else None
    confirmed, token = parse_choice(data)
    upload = pending_uploads(context.bot_data).take(token, user_id)
    if upload is None or not rt.access.is_admin(user_id):
        await query.answer(msg.UPLOAD_CONFIRM_EXPIRED, show_alert=True)
        stale = query.message
        if isinstance(stale, Message) and stale.reply_markup is not None:
            try:  # buttons that do nothing; a double press may have removed them already
                await query.edit_message_reply_markup(reply_markup=None)
            except TelegramError as exc:
                log.debug("could not remove stale upload buttons: %s", exc)
        return
    await query.answer()
    folder = rt.settings.transcripts_dir
    if not confirmed:
        log.info("admin %s cancelled upload %s", user_id, upload.name)
        text = msg.UPLOAD_CANCELLED.format(name=escape(upload.name))
    else:
        try:
            saved = await asyncio.to_thread(
                save_transcript, folder, upload.name, upload.data, upload.max_bytes, confirmed=True
            )
        except TranscriptError as exc:  # validated on upload already; a reply all the same
            text = await _rejected_upload(folder, upload.name, user_id, exc)
        else:
            _log_saved(user_id, saved)
            text = render_saved(saved)
    await query.edit_message_text(text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)


async def _rejected_upload(
    folder: Path, name: str, user_id: int | None, exc: TranscriptError
) -> str:
    log.info("rejected upload %r from %s: %s", name, user_id, exc)
    text = msg.UPLOAD_REJECTED.format(reason=escape(skip_reason(exc.code, exc.detail)))
    if await asyncio.to_thread((folder / name).exists):
        text += msg.UPLOAD_KEPT.format(name=escape(name))
    return text


def _log_saved(user_id: int | None, saved: SavedTranscript) -> None:
    log.info(
        "admin %s saved transcript %s (%d words; replaced: %s, backup: %s, moved aside: %s)",
        user_id,
        saved.name,
        saved.words,
        saved.previous.name if saved.replaced and saved.previous else "-",
        saved.backup or "-",
        ", ".join(m.info.name for m in saved.moved) or "-",
    )


def upload_refusal(name: str | None, size: int | None, limit_mb: float) -> str | None:
    """Why an upload is refused before downloading it (type, size), or None."""
    if name is None:
        return msg.UPLOAD_UNSUPPORTED
    if size and size > limit_mb * MB:
        return msg.UPLOAD_TOO_LARGE.format(size=size / MB, limit=limit_mb)
    return None


@members_only
async def other_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain, for stickers, photos, voice and the like, what the bot can do."""
    message = message_of(update)
    if message.text is not None:  # an empty text message
        example = escape(example_questions(runtime(context).service.index, 1)[0])
        await reply_html(message, msg.EMPTY_QUESTION.format(example=example))
        return
    await reply_html(message, msg.OTHER_INPUT)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help for commands the bot does not know."""
    await reply_html(message_of(update), msg.UNKNOWN_COMMAND)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error and tell the user, in Dutch, that something went wrong."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await context.bot.send_message(update.effective_chat.id, msg.ERROR)
    except TelegramError as exc:
        log.warning("could not tell chat %s about the error: %s", update.effective_chat.id, exc)
