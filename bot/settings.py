"""The Telegram bot's settings: the core ones (`rag.settings.Settings`) plus Telegram,
webhook, access, per-user limits, state retention and voice questions.

Same sources and names as the core settings (environment over `.env`); every field is
documented in `.env.example`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, cast

from pydantic import PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import NoDecode

from rag.settings import Settings


def _split_csv(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v).strip() for v in cast(Iterable[object], value)]  # a list from code


class BotSettings(Settings):
    """Every knob of the bot; `rag` knows nothing of these."""

    # Bot state (questions and answers kept for follow-ups and the Bronnen button)
    state_retention_days: PositiveInt = 90

    # Speech to text (optional): voice questions in the bot, through any OpenAI-compatible
    # /v1/audio/transcriptions; the endpoint and key default to the LLM's
    stt_base_url: str | None = None
    stt_api_key: SecretStr | None = None
    stt_model: str = "whisper-1"  # empty: voice questions off even with an LLM configured
    stt_language: str = "nl"
    stt_max_seconds: PositiveInt = 120  # longer voice notes are refused before download
    stt_timeout_s: PositiveFloat = 30.0  # all work on one transcription, a retry included

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str | None = None
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    admin_user_ids: Annotated[list[int], NoDecode] = []
    allowed_user_ids: Annotated[list[int], NoDecode] = []
    subscriber_codes: Annotated[list[str], NoDecode] = []
    # Questions per Telegram user: a burst, then this many a minute (admins too)
    user_questions_burst: PositiveInt = 4
    user_questions_per_minute: PositiveFloat = 12.0

    @field_validator("admin_user_ids", "allowed_user_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> list[int]:
        try:
            return [int(part) for part in _split_csv(value)]
        except ValueError as exc:
            raise ValueError("must be comma-separated numeric Telegram user ids") from exc

    @field_validator("subscriber_codes", mode="before")
    @classmethod
    def _parse_codes(cls, value: object) -> list[str]:
        return _split_csv(value)

    @field_validator(
        "stt_base_url", "stt_api_key", "webhook_url", "telegram_file_base_url", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def stt_endpoint(self) -> tuple[str | None, SecretStr | None]:
        """The speech-to-text base URL and key: STT_* when set, else the LLM's."""
        if self.stt_base_url is not None or self.stt_api_key is not None:
            return self.stt_base_url, self.stt_api_key
        return self.openai_base_url, self.openai_api_key

    @property
    def stt_enabled(self) -> bool:
        """Voice questions are transcribed when an endpoint (URL or key) and a model are set."""
        base_url, key = self.stt_endpoint
        return bool(self.stt_model) and (base_url is not None or key is not None)
