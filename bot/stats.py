"""Usage counters since start: questions, not-found rate, answer-time percentiles, voice."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from rag.evaluation import percentile

__all__ = ["MAX_SAMPLES", "Stats", "StatsSnapshot", "percentile"]

MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class StatsSnapshot:
    uptime_s: float
    questions: int
    not_found: int
    p50_ms: float | None
    p95_ms: float | None
    voice_questions: int = 0  # voice notes transcribed and asked
    voice_failures: int = 0  # transcriptions that failed or gave no usable question
    voice_refused: int = 0  # refused before download: too long, too large, unknown format
    voice_seconds: int = 0  # seconds of audio sent for transcription


class Stats:
    """Counts answered questions; answer times are kept for the last `MAX_SAMPLES`."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.questions = 0
        self.not_found = 0
        self._durations_ms: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.voice_questions = 0
        self.voice_failures = 0
        self.voice_refused = 0
        self.voice_seconds = 0

    def record(self, found: bool, duration_ms: float) -> None:
        self.questions += 1
        if not found:
            self.not_found += 1
        self._durations_ms.append(duration_ms)

    def record_voice(self, outcome: str, seconds: int = 0) -> None:
        """One voice note: "asked" (transcribed), "failed" or "refused" (not downloaded);
        `seconds` of audio were sent for transcription."""
        if outcome == "asked":
            self.voice_questions += 1
        elif outcome == "failed":
            self.voice_failures += 1
        else:
            self.voice_refused += 1
        self.voice_seconds += seconds

    def snapshot(self) -> StatsSnapshot:
        durations = list(self._durations_ms)
        return StatsSnapshot(
            uptime_s=time.monotonic() - self.started,
            questions=self.questions,
            not_found=self.not_found,
            p50_ms=percentile(durations, 50),
            p95_ms=percentile(durations, 95),
            voice_questions=self.voice_questions,
            voice_failures=self.voice_failures,
            voice_refused=self.voice_refused,
            voice_seconds=self.voice_seconds,
        )
