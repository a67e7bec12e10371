"""Usage counters since start: questions, not-found rate, answer-time percentiles."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

MAX_SAMPLES = 10_000


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


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
