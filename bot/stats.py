"""Usage counters since start: questions, not-found rate, answer-time percentiles."""

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


class Stats:
    """Counts answered questions; answer times are kept for the last `MAX_SAMPLES`."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.questions = 0
        self.not_found = 0
        self._durations_ms: deque[float] = deque(maxlen=MAX_SAMPLES)

    def record(self, found: bool, duration_ms: float) -> None:
        self.questions += 1
        if not found:
            self.not_found += 1
        self._durations_ms.append(duration_ms)

    def snapshot(self) -> StatsSnapshot:
        durations = list(self._durations_ms)
        return StatsSnapshot(
            uptime_s=time.monotonic() - self.started,
            questions=self.questions,
            not_found=self.not_found,
            p50_ms=percentile(durations, 50),
            p95_ms=percentile(durations, 95),
        )
