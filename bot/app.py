"""The Telegram application: `build_application(settings, service)` and `main()`."""

from __future__ import annotations

import asyncio
import logging
import sys
import textwrap
from typing import NoReturn

from pydantic import ValidationError
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import feedback, handlers, voice, webinar
from bot import messages as msg
from bot.access import AccessPolicy
from bot.formatting import (
    EPISODES_PATTERN,
    FEEDBACK_PATTERN,
    SOURCES_PATTERN,
    WEBINAR_FILE_PATTERN,
)
from bot.limits import QuestionLimiter
from bot.logs import RedactingFilter, configure_logging, install_excepthooks, settings_secrets
from bot.reindex import build_missing_index
from bot.runtime import RUNTIME_KEY, Runtime
from bot.settings import BotSettings
from bot.startup import (
    StartupError,
    bot_token,
    file_base_url,
    subscriber_codes,
    webhook_config,
)
from bot.state import DB_NAME, StateStore
from bot.uploads import UPLOAD_CHOICE_PATTERN
from rag.service import AnswerService

log = logging.getLogger(__name__)

FLOOD_RETRIES = 3  # 429 answers are waited out and retried this often by AIORateLimiter
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
NEW_MESSAGES = filters.UpdateType.MESSAGE


def build_application(settings: BotSettings, service: AnswerService) -> Application:
    """A ready-to-run application: handlers, rate limiter, concurrent updates, state."""
    application = (
        ApplicationBuilder()
        .token(bot_token(settings))
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings))
        .rate_limiter(AIORateLimiter(max_retries=FLOOD_RETRIES))
        .concurrent_updates(True)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data[RUNTIME_KEY] = Runtime(
        settings=settings,
        service=service,
        store=StateStore(settings.state_dir / DB_NAME, settings.state_retention_days),
        access=AccessPolicy(
            settings.admin_user_ids, settings.allowed_user_ids, subscriber_codes(settings)
        ),
        limiter=QuestionLimiter(settings.user_questions_burst, settings.user_questions_per_minute),
    )
    add_handlers(application)
    return application


def add_handlers(application: Application) -> None:
    commands = [
        ("start", handlers.start),
        ("help", handlers.help_command),
        ("afleveringen", handlers.episodes_command),
        ("bronnen", handlers.sources_command),
        ("reset", handlers.reset_command),
        ("vergeet", handlers.forget_me_command),
        ("reindex", handlers.reindex_command),
        ("stats", handlers.stats_command),
        ("webinar", webinar.webinar_command),
        ("mijnvragen", webinar.my_questions_command),
        ("webinarinfo", webinar.webinar_info_command),
        ("webinarvragen", webinar.webinar_questions_command),
        ("webinarafgerond", webinar.webinar_done_command),
        ("opmerkingen", feedback.comments_command),
    ]
    # Group -1 sees messages first: a command ends a user's 👎 comment request (and runs),
    # and the next text of a user who was asked is the comment, not a question.
    application.add_handler(
        MessageHandler(filters.COMMAND & NEW_MESSAGES, feedback.lapse_on_command), group=-1
    )
    comment = filters.TEXT & NEW_MESSAGES & (filters.ChatType.PRIVATE | handlers.ADDRESSED_TO_BOT)
    application.add_handler(MessageHandler(comment, feedback.capture_comment), group=-1)
    for name, callback in commands:
        application.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGES))
    # An edited "/vraag" is answered again, like an edited question.
    application.add_handler(CommandHandler("vraag", handlers.ask_command))
    application.add_handler(MessageHandler(handlers.QUESTION, handlers.question))
    application.add_handler(MessageHandler(handlers.DOCUMENT, handlers.document_upload))
    application.add_handler(MessageHandler(voice.VOICE_INPUT, voice.voice_question))
    application.add_handler(MessageHandler(handlers.OTHER_INPUT, handlers.other_input))
    application.add_handler(MessageHandler(handlers.UNKNOWN_COMMAND, handlers.unknown_command))
    application.add_handler(CallbackQueryHandler(handlers.sources_button, pattern=SOURCES_PATTERN))
    application.add_handler(CallbackQueryHandler(handlers.episodes_page, pattern=EPISODES_PATTERN))
    application.add_handler(
        CallbackQueryHandler(handlers.feedback_button, pattern=FEEDBACK_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(handlers.upload_choice, pattern=UPLOAD_CHOICE_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(webinar.withdraw_button, pattern=webinar.WITHDRAW_PATTERN)
    )
    application.add_handler(CallbackQueryHandler(webinar.file_button, pattern=WEBINAR_FILE_PATTERN))
    application.add_handler(
        CallbackQueryHandler(feedback.skip_button, pattern=feedback.SKIP_PATTERN)
    )
    application.add_error_handler(handlers.error_handler)


async def post_init(application: Application) -> None:
    """Open the state, load the index (or start building it) and register the commands."""
    rt: Runtime = application.bot_data[RUNTIME_KEY]
    await rt.store.run(rt.store.open)
    rt.access.subscribers.update(await rt.store.run(rt.store.subscribers))
    if await asyncio.to_thread(rt.service.load):
        # Load the embedding model now, not on the first user's question.
        await asyncio.to_thread(rt.service.search, "AI Report")
        index = rt.service.index
        if index is not None:  # loaded just now
            log.info("ready: %d episodes, %d chunks", len(index.episodes), len(index.chunks))
    else:
        log.warning("no index in %s yet: building it in the background", rt.settings.index_dir)
        rt.reindex_running = True
        application.create_task(build_missing_index(rt), name="initial-index")
    if rt.settings.llm_enabled:
        log.info("answers are written by the LLM %s, streamed into Telegram", rt.settings.llm_model)
    await register_commands(application, rt)


async def register_commands(application: Application, rt: Runtime) -> None:
    """Put the commands in Telegram's menu; admins also see the admin commands."""
    public = [BotCommand(name, text) for name, text in msg.COMMANDS.items()]
    admin = public + [BotCommand(name, text) for name, text in msg.ADMIN_COMMANDS.items()]
    await application.bot.set_my_commands(public)
    for admin_id in sorted(rt.access.admins):
        try:
            await application.bot.set_my_commands(admin, scope=BotCommandScopeChat(admin_id))
        except BadRequest as exc:  # the admin has not started a chat with the bot yet
            log.warning("could not set admin commands for %s: %s", admin_id, exc.message)


async def post_shutdown(application: Application) -> None:
    """Close the state store; stop the LLM and answer workers."""
    rt: Runtime = application.bot_data[RUNTIME_KEY]
    rt.service.llm_executor.shutdown()
    rt.service.answer_executor.shutdown(wait=False, cancel_futures=True)
    await asyncio.to_thread(rt.store.shutdown)


def run(application: Application, settings: BotSettings) -> None:
    """Long polling, or a webhook server when WEBHOOK_URL is set."""
    webhook = webhook_config(settings, application.bot.token)
    if webhook is None:
        log.info("starting with long polling")
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
        return
    log.info("starting webhook on %s:%s", webhook.listen, webhook.port)
    application.run_webhook(
        listen=webhook.listen,
        port=webhook.port,
        url_path=webhook.url_path,
        webhook_url=webhook.webhook_url,
        secret_token=webhook.secret_token,
        allowed_updates=ALLOWED_UPDATES,
    )


def load_settings() -> BotSettings:
    """Settings from the environment and `.env`; exit 2 with a clear message when invalid."""
    try:
        settings = BotSettings()
        bot_token(settings)
        subscriber_codes(settings)
    except ValidationError as exc:
        errors = "\n".join(
            f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        _exit(msg.SETTINGS_INVALID.format(errors=errors))
    except StartupError as exc:
        _exit(str(exc))
    return settings


def token_rejected(exc: InvalidToken, settings: BotSettings, redactor: RedactingFilter) -> str:
    """The operator's message when Telegram answers 401 or 404 to getMe; no token in it.

    PTB puts the whole token in its message ("The token `…` was rejected"), so the reason
    shown is the server's own answer ("Unauthorized", "Not Found"), kept from the cause.
    """
    cause = exc.__cause__ if isinstance(exc.__cause__, TelegramError) else exc
    reason = textwrap.shorten(cause.message, 200)  # a wrong URL may answer with a whole page
    text = msg.TOKEN_REJECTED.format(reason=reason, base_url=settings.telegram_api_base_url)
    return redactor.redact(text)


def _exit(text: str) -> NoReturn:
    print(text, file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    """Load the settings, build the bot and run it until interrupted."""
    settings = load_settings()
    redactor = configure_logging(
        settings.log_level,
        settings_secrets(settings),
    )
    install_excepthooks(redactor)  # the default hook would print tokens in tracebacks
    application = build_application(settings, AnswerService(settings))
    try:
        run(application, settings)
    except InvalidToken as exc:
        _exit(token_rejected(exc, settings, redactor))
