"""Start-up decisions that are easy to get wrong: the token, the file URL, polling or webhook."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from bot import messages as msg
from bot.settings import BotSettings

TOKEN_RE = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
MIN_CODE_LENGTH = 8  # shorter subscriber codes are too easy to guess


class StartupError(Exception):
    """A configuration problem the operator must fix; the message is shown as is."""


def bot_token(settings: BotSettings) -> str:
    """The bot token, or a `StartupError` with a clear Dutch and English explanation."""
    token = (
        settings.telegram_bot_token.get_secret_value().strip()
        if settings.telegram_bot_token
        else ""
    )
    if not token:
        raise StartupError(msg.TOKEN_MISSING)
    if not TOKEN_RE.fullmatch(token):
        raise StartupError(msg.TOKEN_MALFORMED)
    return token


def subscriber_codes(settings: BotSettings) -> list[str]:
    """SUBSCRIBER_CODES, or a `StartupError` when one is too short to resist guessing."""
    short = [code for code in settings.subscriber_codes if len(code) < MIN_CODE_LENGTH]
    if short:  # never show the codes themselves: the message may end up in logs
        raise StartupError(msg.CODES_TOO_SHORT.format(count=len(short), minimum=MIN_CODE_LENGTH))
    return list(settings.subscriber_codes)


def file_base_url(settings: BotSettings) -> str:
    """TELEGRAM_FILE_BASE_URL, or the file URL that belongs to TELEGRAM_API_BASE_URL."""
    if settings.telegram_file_base_url:
        return settings.telegram_file_base_url
    base = settings.telegram_api_base_url.rstrip("/")
    return f"{base.removesuffix('/bot')}/file/bot"


@dataclass(frozen=True)
class WebhookConfig:
    """Arguments for `Application.run_webhook`."""

    listen: str
    port: int
    url_path: str
    webhook_url: str
    secret_token: str


def webhook_config(
    settings: BotSettings, token: str, secret: str | None = None
) -> WebhookConfig | None:
    """Webhook mode when WEBHOOK_URL is set, else None (long polling).

    The path is derived from a hash of the token, never the token itself, so it does not
    leak into proxy logs; Telegram proves each request with a fresh random secret token.
    """
    if not settings.webhook_url:
        return None
    path = "telegram/" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return WebhookConfig(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=path,
        webhook_url=f"{settings.webhook_url.rstrip('/')}/{path}",
        secret_token=secret or secrets.token_urlsafe(32),
    )
