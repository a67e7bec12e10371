"""What the bot keeps about people, and how it lets go: /reset, /vergeet and the retention.

The store tests read the SQLite file with a connection of their own, so "deleted" means the
rows are gone from disk, not just hidden from the store's queries.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import BotProcess, ask, copy_corpus, running_bot
from tg_emulator import TelegramEmulator

from bot import messages as msg
from bot.settings import BotSettings
from bot.state import DAY_S, DB_NAME, PURGE_INTERVAL_S, StateStore
from rag.answer import Answer, Citation
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GROUP = -100123
CODE = "nieuwsbrief-2026"
GROQ = "Wat zei Rick Lamers over Groq?"
SUBSCRIBER = 2201
RESETTER = 2202
OLD_CHAT, RECENT_CHAT = 2203, 2204


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(question: str = "vraag") -> Answer:
    return Answer(
        question=question,
        text="antwoord [1]",
        found=True,
        mode="extractive",
        citations=[Citation(1, "ep", "Titel", "https://youtu.be/x", "a.md", 0, 10, None, "quote")],
        retrieved=[],
        timings_ms={"total": 1.0},
    )


def rows(path: Path, chat_id: int | None = None) -> int:
    """Answers on disk, for one chat or all, read without the store."""
    with sqlite3.connect(path) as db:
        if chat_id is None:
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        return db.execute("SELECT COUNT(*) FROM answers WHERE chat_id = ?", (chat_id,)).fetchone()[
            0
        ]


def backdate(path: Path, answer_id: int, created_at: float) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE answers SET created_at = ? WHERE id = ?", (created_at, answer_id))


# ------------------------------------------------------------------------- store


def test_delete_chat_removes_its_rows_from_disk(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    store = StateStore(path).open()
    first = store.add_answer(10, answer("vraag 1"))
    store.add_answer(10, answer("vraag 2"))
    store.add_answer(20, answer("andere chat"))
    assert store.delete_chat(10) == 2
    assert rows(path, 10) == 0
    assert rows(path, 20) == 1
    assert store.history(10, 3) == [] and store.get_answer(10, first) is None
    store.close()


def test_answers_past_retention_are_purged_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    store = StateStore(path, retention_days=30).open()
    old = store.add_answer(10, answer("oud"))
    store.add_answer(10, answer("recent"))
    store.close()
    backdate(path, old, time.time() - 31 * DAY_S)

    store = StateStore(path, retention_days=30).open()
    assert [t.question for t in store.history(10, 5)] == ["recent"]
    assert rows(path) == 1
    store.close()


def test_purge_runs_on_writes_at_most_once_an_hour(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    clock = Clock()
    store = StateStore(path, retention_days=90, clock=clock).open()  # purges: next in an hour
    kept = store.add_answer(10, answer("nieuw"))
    old = store.add_answer(20, answer("oud"))
    backdate(path, old, clock.now - 91 * DAY_S)

    clock.now += PURGE_INTERVAL_S / 2
    store.add_answer(30, answer("binnen het uur"))
    assert rows(path, 20) == 1  # no purge yet: the last one was less than an hour ago

    clock.now += PURGE_INTERVAL_S
    store.add_answer(30, answer("na een uur"))
    assert rows(path, 20) == 0
    assert store.get_answer(10, kept) is not None
    store.close()


def test_forget_user_deletes_their_private_chat_but_keeps_the_unlock(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    store = StateStore(path).open()
    store.add_answer(77, answer("privé"))
    store.add_answer(77, answer("nog een"))
    store.add_answer(88, answer("iemand anders"))
    store.add_answer(GROUP, answer("in de groep"))
    store.unlock(77, "fingerprint")
    assert store.forget_user(77) == 2
    assert rows(path, 77) == 0
    assert rows(path, 88) == 1 and rows(path, GROUP) == 1
    assert store.subscribers() == {77: "fingerprint"}
    store.close()


def test_retention_setting_defaults_to_90_days_and_is_documented() -> None:
    assert BotSettings(_env_file=None).state_retention_days == 90
    assert BotSettings(_env_file=None, state_retention_days="7").state_retention_days == 7
    with pytest.raises(ValueError):
        BotSettings(_env_file=None, state_retention_days=0)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "\nSTATE_RETENTION_DAYS=90\n" in example


# ------------------------------------------------------------------------- the real bot


@pytest.fixture(scope="module")
def state_db(sample_index: Settings, tmp_path_factory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("bot-privacy")
    copy_corpus(sample_index, base)
    yield base, base / "state" / DB_NAME


@pytest.fixture(scope="module")
def bot(tg: TelegramEmulator, state_db: tuple[Path, Path]) -> Iterator[BotProcess]:
    base, path = state_db
    # Rows from before the start: one past the 30 days configured below, one within them.
    store = StateStore(path, retention_days=3650).open()
    old = store.add_answer(OLD_CHAT, answer("oud"))
    recent = store.add_answer(RECENT_CHAT, answer("recent"))
    store.close()
    backdate(path, old, time.time() - 40 * DAY_S)
    backdate(path, recent, time.time() - 10 * DAY_S)
    with running_bot(
        tg,
        base / "bot.log",
        transcripts=base / "transcripts",
        index=base / "index",
        state=path.parent,
        subscriber_codes=CODE,
        state_retention_days=30,
    ) as process:
        yield process


@pytest.mark.slow
def test_rows_past_the_configured_retention_are_purged_at_start(
    bot: BotProcess, state_db: tuple[Path, Path]
) -> None:
    _, path = state_db
    assert rows(path, OLD_CHAT) == 0
    assert rows(path, RECENT_CHAT) == 1


@pytest.mark.slow
def test_reset_deletes_the_chats_rows(tg: TelegramEmulator, bot: BotProcess, state_db) -> None:
    _, path = state_db
    ask(tg, f"/start {CODE}", user_id=RESETTER)
    ask(tg, GROQ, user_id=RESETTER)
    assert rows(path, RESETTER) == 1
    assert ask(tg, "/reset", user_id=RESETTER).text == msg.RESET_DONE
    assert rows(path, RESETTER) == 0


@pytest.mark.slow
def test_vergeet_deletes_the_users_answers_but_keeps_the_unlock(
    tg: TelegramEmulator, bot: BotProcess, state_db
) -> None:
    _, path = state_db
    assert ask(tg, f"/start {CODE}", user_id=SUBSCRIBER).text.startswith(msg.UNLOCKED)
    ask(tg, GROQ, user_id=SUBSCRIBER)
    ask(tg, "en over Europa?", user_id=SUBSCRIBER)
    assert rows(path, SUBSCRIBER) == 2

    assert ask(tg, "/vergeet", user_id=SUBSCRIBER).text == msg.FORGET_ME_DONE
    assert rows(path, SUBSCRIBER) == 0
    with sqlite3.connect(path) as db:
        unlocked = db.execute("SELECT COUNT(*) FROM subscribers WHERE user_id = ?", (SUBSCRIBER,))
        assert unlocked.fetchone()[0] == 1
    assert ask(tg, "/bronnen", user_id=SUBSCRIBER).text == msg.NO_SOURCES  # still unlocked


@pytest.mark.slow
def test_help_mentions_vergeet_and_the_retention(tg: TelegramEmulator, bot: BotProcess) -> None:
    text = ask(tg, "/help", user_id=2205).text
    assert "/vergeet" in text
    assert "hoogstens 30 dagen" in text
