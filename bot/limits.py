"""Questions per user: a token bucket, so that one user flooding the bot cannot slow down others.

Every question counts: new messages, `/vraag` and each edit of a message (an edit is
answered again). A user may ask `burst` questions at once, then one more every
`60 / per_minute` seconds. A question over the limit is not answered; the first one
gets a polite reply saying so, the rest are dropped silently until a question is let
through again. Admins are limited like everyone (`/reindex` is not a question).

A bucket that has filled up again says nothing a new bucket would not, so such buckets
are dropped now and then: memory stays proportional to the users active in the last
`burst / rate` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SWEEP_INTERVAL_S = 60.0


@dataclass
class Bucket:
    tokens: float
    updated: float
    told: bool = False  # the user was told about the limit since their last question


@dataclass(frozen=True)
class Admission:
    allowed: bool
    tell: bool = False  # refused, and the first refusal since a question went through
    wait_s: float = 0.0  # until the next question would be let through


class QuestionLimiter:
    """One token bucket per user id; `admit` is called once per question, on the event loop."""

    def __init__(
        self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[int, Bucket] = {}
        self._next_sweep = clock() + SWEEP_INTERVAL_S

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, user_id: int) -> Admission:
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = Bucket(float(self.burst), now)
        self._refill(bucket, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.told = False
            return Admission(True)
        tell, bucket.told = not bucket.told, True
        return Admission(False, tell, (1.0 - bucket.tokens) / self.rate)

    def _refill(self, bucket: Bucket, now: float) -> None:
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now

    def _sweep(self, now: float) -> None:
        """Drop the buckets that are full again (their users have been quiet long enough)."""
        self._next_sweep = now + SWEEP_INTERVAL_S
        for user_id, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self.burst:
                del self._buckets[user_id]
