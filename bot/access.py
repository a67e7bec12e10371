"""Who may use the bot: admins, an optional allowlist, and subscribers who unlocked it.

The policy only; `bot.guards` applies it to handlers."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping

from bot import messages as msg

MAX_CODE_ATTEMPTS = 5  # wrong subscriber codes in a row before a cool-down
CODE_COOLDOWN_S = 15 * 60
# A fixed salt keeps the fingerprint of a code the same across restarts, so a stored
# subscriber can be matched against the current codes without keeping the code itself.
FINGERPRINT_SALT = b"ai-report-bot/subscriber-code/v1"


def code_fingerprint(code: str) -> str:
    """What the state keeps of the code that unlocked a user: a slow hash (scrypt), not the code."""
    digest = hashlib.scrypt(code.encode(), salt=FINGERPRINT_SALT, n=2**14, r=8, p=1, dklen=32)
    return digest.hex()


class CodeAttempts:
    """Wrong codes per user: after `limit` in a row, no code is checked for `cooldown` seconds."""

    def __init__(
        self,
        limit: int = MAX_CODE_ATTEMPTS,
        cooldown: float = CODE_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.cooldown = cooldown
        self.clock = clock
        self._failures: dict[int, tuple[int, float]] = {}  # user id -> (count, last failure)

    def wait(self, user_id: int) -> float:
        """Seconds until the user may try a code again (0: now)."""
        count, last = self._failures.get(user_id, (0, 0.0))
        if count < self.limit:
            return 0.0
        return max(0.0, last + self.cooldown - self.clock())

    def failed(self, user_id: int) -> None:
        now = self.clock()
        self._prune(now)
        count, _last = self._failures.get(user_id, (0, now))
        self._failures[user_id] = (count + 1, now)

    def succeeded(self, user_id: int) -> None:
        self._failures.pop(user_id, None)

    def _prune(self, now: float) -> None:
        """Forget failures older than the cool-down: the count starts again, memory stays small."""
        stale = [u for u, (_count, last) in self._failures.items() if now - last >= self.cooldown]
        for user_id in stale:
            del self._failures[user_id]


class AccessPolicy:
    """Open to everyone unless ALLOWED_USER_IDS or SUBSCRIBER_CODES are set; admins always.

    A subscriber is admitted only while the code that unlocked them is still configured:
    removing or rotating a code, or dropping codes for an allowlist, locks them out again.
    """

    def __init__(
        self,
        admins: Iterable[int],
        allowed: Iterable[int],
        codes: Iterable[str],
        subscribers: Mapping[int, str | None] | None = None,
        attempts: CodeAttempts | None = None,
    ) -> None:
        self.admins = frozenset(admins)
        self.allowed = frozenset(allowed)
        self.codes = tuple(codes)
        self._fingerprints = {code: code_fingerprint(code) for code in self.codes}
        self._current = frozenset(self._fingerprints.values())
        # user id -> fingerprint of the code that unlocked them (None: unknown, from before)
        self.subscribers: dict[int, str | None] = dict(subscribers or {})
        self.attempts = attempts or CodeAttempts()

    @property
    def restricted(self) -> bool:
        return bool(self.allowed or self.codes)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    def may_ask(self, user_id: int | None) -> bool:
        if user_id is None:
            return False
        if not self.restricted or user_id in self.admins or user_id in self.allowed:
            return True
        return self.subscribers.get(user_id) in self._current

    def match_code(self, code: str) -> str | None:
        """The fingerprint of the configured code equal to `code`, or None (constant time)."""
        given = code.encode()
        found = None
        for configured, fingerprint in self._fingerprints.items():
            if hmac.compare_digest(given, configured.encode()):
                found = fingerprint
        return found

    def try_code(self, user_id: int, code: str) -> str | None:
        """The fingerprint of `code` if it is a current code, else None.

        A wrong code counts against the user; during a cool-down the code is not checked.
        """
        if self.attempts.wait(user_id):
            return None
        fingerprint = self.match_code(code)
        if fingerprint is None:
            self.attempts.failed(user_id)
        return fingerprint

    def valid_code(self, code: str) -> bool:
        return self.match_code(code) is not None

    def add_subscriber(self, user_id: int, fingerprint: str) -> None:
        self.subscribers[user_id] = fingerprint
        self.attempts.succeeded(user_id)

    def refusal(self) -> str:
        return msg.LOCKED if self.codes else msg.NOT_ALLOWED
