"""What the bot remembers across restarts, in one SQLite file (no pickle).

Answers are kept per chat with their citations: the last few that are still "in memory"
are the conversation history for follow-ups, and any kept answer can be shown again by its
Bronnen button (whose callback data is just the answer id). Unlocked subscribers are kept too,
each with a fingerprint of the code that unlocked them (never the code), so that removing or
rotating a code locks its subscribers out again.

Webinar questions (`bot.webinar`) are kept per asker until they withdraw them (`/mijnvragen`)
or ask to be forgotten, or until an admin closes the round (`/webinarafgerond`), which
archives them under the round's date; the hosts' note about the next webinar is one row of
`settings`. 👍/👎 votes on answers are kept per user and answer (`answer_feedback`); a 👎
may carry the user's comment on what was wrong, with the question it was about (kept
with the vote, so the admins' `/opmerkingen` still shows it when the answer is gone).

Nothing is kept for ever: `/reset` deletes a chat's answers, `/vergeet` everything about a
user but their unlock (their webinar questions, votes and comments too), and answers and
comments older than the retention period are purged when the store opens and, at most once
an hour, when an answer is written (a vote's count stays; its comment goes).

The methods block (SQLite file IO). The bot calls them through `StateStore.run`, on the
store's own thread: on the shared `asyncio.to_thread` pool a quick write would queue behind
every search in flight, holding back answers that are already composed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from rag.answer import Answer
from rag.types import Turn

DB_NAME = "bot.sqlite3"
KEEP_ANSWERS_PER_CHAT = 50
DEFAULT_RETENTION_DAYS = 90.0
PURGE_INTERVAL_S = 3600.0  # a purge scans the whole table: not on every answer
DAY_S = 86400.0
MAX_OPEN_WEBINAR_QUESTIONS = 10  # per user
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    found INTEGER NOT NULL,
    citations TEXT NOT NULL,
    in_memory INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_chat ON answers (chat_id, id);
CREATE TABLE IF NOT EXISTS subscribers (
    user_id INTEGER PRIMARY KEY,
    unlocked_at REAL NOT NULL,
    code_hash TEXT
);
"""

# Added after the first release: created on open, so an existing state file upgrades.
WEBINAR_SCHEMA = """
CREATE TABLE IF NOT EXISTS webinar_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    verdict TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webinar_questions_by_user ON webinar_questions (user_id, id);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""
WEBINAR_INFO_KEY = "webinar_info"

# 👍/👎 under answers: one vote per user per answer (a second press changes it). Votes
# outlive the answers' retention: they are counts for /stats, not conversation.
FEEDBACK_SCHEMA = """
CREATE TABLE IF NOT EXISTS answer_feedback (
    answer_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
"""


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The row id of the row an INSERT just added."""
    if cursor.lastrowid is None:
        raise sqlite3.DatabaseError("the INSERT added no row")
    return cursor.lastrowid


@dataclass(frozen=True)
class FeedbackComment:
    """A user's comment on an answer they voted 👎 (no user id: for the admins' list)."""

    question: str
    comment: str
    commented_at: float


@dataclass(frozen=True)
class AskedQuestion:
    """A kept answer's question, for /stats' content gaps."""

    question: str
    chat_id: int
    created_at: float


@dataclass(frozen=True)
class WebinarQuestion:
    """An open question for the next webinar. `verdict` is the archive's at filing time."""

    id: int
    user_id: int
    chat_id: int
    question: str
    verdict: str | None
    created_at: float


@dataclass(frozen=True)
class Filing:
    """What `add_webinar_question` did: "added", "duplicate" (already open) or "full"."""

    status: str
    question_id: int | None
    open_count: int


@dataclass(frozen=True)
class StoredCitation:
    """The part of a citation the bot shows again later."""

    n: int
    title: str
    url: str | None
    start_time: float | None
    quote: str
    position: float | None = None  # share of the episode before the quote (older rows: None)


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    chat_id: int
    question: str
    answer: str
    found: bool
    citations: list[StoredCitation]
    verdict: str | None = None  # None for answers kept from before verdicts were stored


class StateStore:
    """Chat memory, answers for the Bronnen button, and unlocked subscribers."""

    def __init__(
        self,
        path: Path,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention_s = retention_days * DAY_S
        self._clock = clock
        self._next_purge = 0.0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bot-state")

    async def run(self, method: Callable[..., T], *args: object) -> T:
        """Run one of the blocking methods on the store's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(method, *args))

    def open(self) -> StateStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        _add_code_hash_column(db)
        _add_webinar_tables(db)
        _add_answer_verdict_column(db)
        db.executescript(FEEDBACK_SCHEMA)
        _add_feedback_comment_columns(db)
        self._db = db
        self.purge_expired()
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def shutdown(self) -> None:
        """Close the database and stop the store's thread (call from outside that thread)."""
        self._executor.submit(self.close).result()
        self._executor.shutdown()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("StateStore is not open")
        return self._db

    def add_answer(self, chat_id: int, answer: Answer) -> int:
        """Remember an answer (and drop the chat's oldest beyond the limit); returns its id."""
        citations = [
            asdict(StoredCitation(c.n, c.title, c.url, c.start_time, c.quote, c.position))
            for c in answer.citations
        ]
        with self._lock:
            db = self._conn()
            cursor = db.execute(
                "INSERT INTO answers "
                "(chat_id, question, answer, found, citations, created_at, verdict) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    answer.question,
                    answer.text,
                    int(answer.found),
                    json.dumps(citations, ensure_ascii=False),
                    self._clock(),
                    answer.verdict,
                ),
            )
            db.execute(
                "DELETE FROM answers WHERE chat_id = ? AND id NOT IN "
                "(SELECT id FROM answers WHERE chat_id = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, chat_id, KEEP_ANSWERS_PER_CHAT),
            )
            answer_id = _inserted_id(cursor)
        if self._clock() >= self._next_purge:
            self.purge_expired()
        return answer_id

    def purge_expired(self) -> int:
        """Delete answers older than the retention period; returns how many."""
        now = self._clock()
        with self._lock:
            db = self._conn()
            cursor = db.execute(
                "DELETE FROM answers WHERE created_at < ?", (now - self.retention_s,)
            )
            db.execute(
                "UPDATE answer_feedback SET comment = NULL, question = NULL, commented_at = NULL "
                "WHERE commented_at < ?",
                (now - self.retention_s,),
            )
            self._next_purge = now + PURGE_INTERVAL_S
            return cursor.rowcount

    def history(self, chat_id: int, turns: int) -> list[Turn]:
        """The last `turns` remembered question/answer pairs of a chat, oldest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT question, answer FROM answers WHERE chat_id = ? AND in_memory = 1 "
                    "ORDER BY id DESC LIMIT ?",
                    (chat_id, turns),
                )
                .fetchall()
            )
        return [Turn(question, answer) for question, answer in reversed(rows)]

    def last_answer(self, chat_id: int) -> StoredAnswer | None:
        """The chat's most recent remembered answer."""
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT * FROM answers WHERE chat_id = ? AND in_memory = 1 "
                    "ORDER BY id DESC LIMIT 1",
                    (chat_id,),
                )
                .fetchone()
            )
        return _answer(row)

    def get_answer(self, chat_id: int, answer_id: int) -> StoredAnswer | None:
        """A kept answer by id, only within the chat it was given in."""
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT * FROM answers WHERE id = ? AND chat_id = ?", (answer_id, chat_id))
                .fetchone()
            )
        return _answer(row)

    def delete_chat(self, chat_id: int) -> int:
        """Delete everything kept about a chat's conversation; returns how many answers."""
        with self._lock:
            cursor = self._conn().execute("DELETE FROM answers WHERE chat_id = ?", (chat_id,))
            return cursor.rowcount

    def forget_user(self, user_id: int) -> int:
        """Delete what is kept about a user, except their unlock; returns how many answers.

        That is their private chat (whose id is the user id) and their webinar questions,
        wherever they filed them. Answers in groups are kept per group, not per asker, so
        they belong to the group and go with its `/reset`.
        """
        with self._lock:
            db = self._conn()
            db.execute("DELETE FROM webinar_questions WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM answer_feedback WHERE user_id = ?", (user_id,))
        return self.delete_chat(user_id)

    # ------------------------------------------------------------------------- feedback

    def vote(self, answer_id: int, user_id: int, vote: int) -> int | None:
        """Record a user's 👍 (1) or 👎 (-1) on an answer; returns their previous vote.
        A changed vote loses the comment of the 👎 it replaces."""
        with self._lock:
            db = self._conn()
            row = db.execute(
                "SELECT vote FROM answer_feedback WHERE answer_id = ? AND user_id = ?",
                (answer_id, user_id),
            ).fetchone()
            if row is None or row[0] != vote:
                db.execute(
                    "INSERT INTO answer_feedback (answer_id, user_id, vote, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (answer_id, user_id) DO UPDATE SET "
                    "vote = excluded.vote, updated_at = excluded.updated_at, "
                    "comment = NULL, question = NULL, commented_at = NULL",
                    (answer_id, user_id, vote, self._clock()),
                )
        return row[0] if row else None

    def feedback_counts(self, since: float | None = None) -> tuple[int, int]:
        """(👍, 👎) over all answers, or over votes cast or changed since `since`."""
        with self._lock:
            up, down = (
                self._conn()
                .execute(
                    "SELECT COALESCE(SUM(vote > 0), 0), COALESCE(SUM(vote < 0), 0) "
                    "FROM answer_feedback WHERE updated_at >= ?",
                    (since if since is not None else -1.0e300,),
                )
                .fetchone()
            )
        return int(up), int(down)

    def add_feedback_comment(
        self, answer_id: int, user_id: int, question: str, comment: str
    ) -> bool:
        """Attach a comment (and the question it is about) to the user's 👎 on an answer;
        False when there is no such vote (changed to 👍, or forgotten, meanwhile)."""
        with self._lock:
            cursor = self._conn().execute(
                "UPDATE answer_feedback SET comment = ?, question = ?, commented_at = ? "
                "WHERE answer_id = ? AND user_id = ? AND vote < 0",
                (comment, question, self._clock(), answer_id, user_id),
            )
            return cursor.rowcount > 0

    def feedback_comments(self, limit: int) -> list[FeedbackComment]:
        """The latest comments on 👎 votes, newest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT question, comment, commented_at FROM answer_feedback "
                    "WHERE comment IS NOT NULL ORDER BY commented_at DESC LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        return [FeedbackComment(*row) for row in rows]

    def comment_count(self) -> int:
        with self._lock:
            cursor = self._conn().execute(
                "SELECT COUNT(*) FROM answer_feedback WHERE comment IS NOT NULL"
            )
            return int(cursor.fetchone()[0])

    def unanswered_questions(self, limit: int) -> list[AskedQuestion]:
        """The latest kept questions the archive had no sure answer to (verdict unsure or
        not found), newest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT question, chat_id, created_at FROM answers "
                    "WHERE verdict IN ('unsure', 'not_found') ORDER BY id DESC LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        return [AskedQuestion(*row) for row in rows]

    # ------------------------------------------------------------------ webinar questions

    def add_webinar_question(
        self,
        user_id: int,
        chat_id: int,
        question: str,
        limit: int = MAX_OPEN_WEBINAR_QUESTIONS,
    ) -> Filing:
        """File a question for the next webinar, unless the user already has `limit` open
        ones or the same question (ignoring case and spacing) is open already."""
        key = _question_key(question)
        with self._lock:
            db = self._conn()
            rows = db.execute(
                "SELECT id, question FROM webinar_questions WHERE user_id = ? AND round IS NULL",
                (user_id,),
            ).fetchall()
            for question_id, existing in rows:
                if _question_key(existing) == key:
                    return Filing("duplicate", question_id, len(rows))
            if len(rows) >= limit:
                return Filing("full", None, len(rows))
            cursor = db.execute(
                "INSERT INTO webinar_questions (user_id, chat_id, question, created_at) "
                "VALUES (?, ?, ?, ?)",
                (user_id, chat_id, question, self._clock()),
            )
            return Filing("added", _inserted_id(cursor), len(rows) + 1)

    def set_webinar_verdict(self, question_id: int, verdict: str) -> None:
        """Record what the archive said when the question was filed."""
        with self._lock:
            self._conn().execute(
                "UPDATE webinar_questions SET verdict = ? WHERE id = ?", (verdict, question_id)
            )

    def webinar_questions(self, user_id: int | None = None) -> list[WebinarQuestion]:
        """Open webinar questions, oldest first: all, or one user's."""
        sql = (
            "SELECT id, user_id, chat_id, question, verdict, created_at FROM webinar_questions "
            "WHERE round IS NULL"
        )
        params: tuple = ()
        if user_id is not None:
            sql += " AND user_id = ?"
            params = (user_id,)
        with self._lock:
            rows = self._conn().execute(sql + " ORDER BY id", params).fetchall()
        return [WebinarQuestion(*row) for row in rows]

    def withdraw_webinar_question(self, question_id: int, user_id: int) -> bool:
        """Delete a webinar question, only for the user who filed it; False if there is none."""
        with self._lock:
            cursor = self._conn().execute(
                "DELETE FROM webinar_questions WHERE id = ? AND user_id = ? AND round IS NULL",
                (question_id, user_id),
            )
            return cursor.rowcount > 0

    def close_webinar_round(self, round_name: str) -> tuple[int, list[int]]:
        """Archive the open webinar questions under `round_name` (the round's date); returns
        how many, and the ids of the users who asked them, each once, in order of their
        first question."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT user_id FROM webinar_questions WHERE round IS NULL ORDER BY id"
                ).fetchall()
                db.execute(
                    "UPDATE webinar_questions SET round = ? WHERE round IS NULL", (round_name,)
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return len(rows), list(dict.fromkeys(user_id for (user_id,) in rows))

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) one of the bot's settings kept in the state."""
        with self._lock:
            db = self._conn()
            if value is None:
                db.execute("DELETE FROM settings WHERE key = ?", (key,))
                return
            db.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (key, value, self._clock()),
            )

    def get_setting(self, key: str) -> str | None:
        with self._lock:
            cursor = self._conn().execute("SELECT value FROM settings WHERE key = ?", (key,))
            row = cursor.fetchone()
        return row[0] if row else None

    def unlock(self, user_id: int, code_hash: str) -> None:
        """Remember a subscriber and the fingerprint of their code (a new code replaces the old)."""
        with self._lock:
            self._conn().execute(
                "INSERT INTO subscribers (user_id, unlocked_at, code_hash) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET "
                "unlocked_at = excluded.unlocked_at, code_hash = excluded.code_hash",
                (user_id, time.time(), code_hash),
            )

    def subscribers(self) -> dict[int, str | None]:
        """User id -> fingerprint of the code that unlocked them (None for rows from before)."""
        with self._lock:
            rows = self._conn().execute("SELECT user_id, code_hash FROM subscribers").fetchall()
        return dict(rows)


def _add_code_hash_column(db: sqlite3.Connection) -> None:
    """Upgrade a state file from before code fingerprints; its subscribers must unlock again."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(subscribers)")}
    if "code_hash" not in columns:
        db.execute("ALTER TABLE subscribers ADD COLUMN code_hash TEXT")


def read_webinar_questions(path: Path, round_name: str | None = None) -> list[WebinarQuestion]:
    """The open webinar questions of a state file (or those archived under `round_name`),
    read-only (for `aireport webinar`, which may run beside the bot: it must not purge or
    upgrade anything)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(webinar_questions)")}
        has_rounds = "round" in columns
        if round_name is not None:  # a closed round (older files have none)
            where, params = ("WHERE round = ? ", (round_name,)) if has_rounds else ("WHERE 0 ", ())
        else:  # the open questions (older files: all)
            where, params = ("WHERE round IS NULL " if has_rounds else "", ())
        rows = db.execute(
            "SELECT id, user_id, chat_id, question, verdict, created_at FROM webinar_questions "
            f"{where}ORDER BY id",
            params,
        ).fetchall()
    except sqlite3.OperationalError as exc:  # a state file from before the webinar inbox
        if "no such table" not in str(exc):
            raise
        rows = []
    finally:
        db.close()
    return [WebinarQuestion(*row) for row in rows]


def read_webinar_rounds(path: Path) -> list[tuple[str, int]]:
    """The closed webinar rounds of a state file with their number of questions, oldest
    first (read-only, like `read_webinar_questions`)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(webinar_questions)")}
        if "round" not in columns:  # no table, or from before closed rounds
            return []
        rows = db.execute(
            "SELECT round, COUNT(*) FROM webinar_questions WHERE round IS NOT NULL "
            "GROUP BY round ORDER BY round"
        ).fetchall()
    finally:
        db.close()
    return [(name, int(count)) for name, count in rows]


def _add_webinar_tables(db: sqlite3.Connection) -> None:
    """Upgrade a state file from before the webinar inbox: add its (empty) tables, and
    from before closed rounds: add the round column (NULL: the question is open)."""
    db.executescript(WEBINAR_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(webinar_questions)")}
    if "round" not in columns:
        db.execute("ALTER TABLE webinar_questions ADD COLUMN round TEXT")


def _add_feedback_comment_columns(db: sqlite3.Connection) -> None:
    """Upgrade a state file from before 👎 comments: a vote's comment, its question, when."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(answer_feedback)")}
    for name, kind in (("comment", "TEXT"), ("question", "TEXT"), ("commented_at", "REAL")):
        if name not in columns:
            db.execute(f"ALTER TABLE answer_feedback ADD COLUMN {name} {kind}")


def _add_answer_verdict_column(db: sqlite3.Connection) -> None:
    """Upgrade a state file from before stored verdicts (the webinar button needs them)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(answers)")}
    if "verdict" not in columns:
        db.execute("ALTER TABLE answers ADD COLUMN verdict TEXT")


def _question_key(question: str) -> str:
    return " ".join(question.casefold().split())


def _answer(row: tuple | None) -> StoredAnswer | None:
    if row is None:
        return None
    answer_id, chat_id, question, text, found, citations, _in_memory, _created, verdict = row
    return StoredAnswer(
        id=answer_id,
        chat_id=chat_id,
        question=question,
        answer=text,
        found=bool(found),
        citations=[StoredCitation(**c) for c in json.loads(citations)],
        verdict=verdict,
    )
