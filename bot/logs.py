"""Logging for the bot process, with the bot token scrubbed from every record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "<token>"
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


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Log to stderr at `level`, with the redacting filter on every root handler."""
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
