"""Small types that travel between the answer layer and the front ends.

Enums are `StrEnum`s: they compare, hash, format and serialise (JSON, SQLite) as
their values, so `aireport ask --json` and stored answers keep the plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """Whether the archive answers the question."""

    FOUND = "found"
    UNSURE = "unsure"
    NOT_FOUND = "not_found"


class AnswerMode(StrEnum):
    """Who wrote the answer: the extractive composer or an LLM."""

    EXTRACTIVE = "extractive"
    LLM = "llm"
    BASELINE = "baseline"  # the eval's LangChain tutorial baseline: retrieval only


class FallbackReason(StrEnum):
    """Why an LLM answer was replaced by the extractive one (which then carries
    `messages_nl.LLM_UNAVAILABLE`)."""

    FAILED = "failed"  # the provider call failed, timed out or passed the deadline
    REJECTED = "rejected"  # uncited, unsupported, empty, or repeating the system prompt
    SKIPPED = "skipped"  # not called: no LLM worker was free, or the deadline passed


@dataclass
class Turn:
    """One question and answer of a conversation."""

    question: str
    answer: str
