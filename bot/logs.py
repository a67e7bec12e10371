"""Logging for the bot process, with the secrets scrubbed from every record and traceback."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType

from pydantic import SecretStr

from bot.settings import BotSettings
from bot.startup import bot_token

REDACTED = "<redacted>"
# Shorter API keys are placeholders for local servers ("x", "EMPTY"); scrubbing them would
# garble every log line without protecting anything.
MIN_KEY_CHARS = 8
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log request URLs (which contain the token) at INFO or DEBUG.
NOISY_LOGGERS = ("httpx", "httpcore")


class RedactingFilter(logging.Filter):
    """Replace secrets in the message, arguments, traceback and stack of every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so the full token goes before its secret half.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def format_exception(
        self, exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None
    ) -> str:
        return self.redact("".join(traceback.format_exception(exc_type, exc, tb)))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed log call: leave it to the formatter
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def token_secrets(token: str) -> list[str]:
    """The token and its secret half (after the colon)."""
    return [token, token.partition(":")[2]]


def bot_secrets(token: str, *api_keys: SecretStr | None) -> list[str]:
    """Everything to scrub: the bot token, its secret half and the API keys (LLM, STT,
    reranker)."""
    keys = [k.get_secret_value() for k in api_keys if k is not None]
    return token_secrets(token) + [k for k in keys if len(k) >= MIN_KEY_CHARS]


def settings_secrets(settings: BotSettings) -> list[str]:
    """Everything to scrub for these settings: the bot token and every API key."""
    return bot_secrets(
        bot_token(settings),
        settings.openai_api_key,
        settings.stt_api_key,
        settings.rerank_api_key,
    )


def configure_logging(level: str, secrets: Iterable[str]) -> RedactingFilter:
    """Log to stderr at `level`, with the redacting filter on every root handler; returns it."""
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(
        format=FORMAT,
        level=numeric if isinstance(numeric, int) else logging.INFO,
        stream=sys.stderr,
    )
    redactor = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor


def install_excepthooks(redactor: RedactingFilter) -> None:
    """Print uncaught exceptions (main thread and other threads) with the secrets scrubbed."""

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        sys.stderr.write(redactor.format_exception(exc_type, exc, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:  # like Python's own hook: a thread may exit quietly
            return
        name = args.thread.name if args.thread else threading.get_ident()
        sys.stderr.write(f"Exception in thread {name}:\n")
        sys.stderr.write(
            redactor.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
