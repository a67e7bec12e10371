"""Access hardening: revocable subscribers, guess-proof codes, no codes or admin output in groups.

The policy and the state run for real (SQLite files); the bot runs as `python -m bot` against
the Telegram Bot API emulator.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import (
    ROOT,
    BotProcess,
    ask,
    bot_env,
    clean_environ,
    copy_corpus,
    reply_to,
    running_bot,
    start_bot,
)
from tg_emulator import TelegramEmulator

from bot import messages as msg
from bot.access import CODE_COOLDOWN_S, MAX_CODE_ATTEMPTS, AccessPolicy, CodeAttempts
from bot.access import code_fingerprint as fingerprint
from bot.settings import BotSettings
from bot.startup import MIN_CODE_LENGTH, StartupError, subscriber_codes
from bot.state import DB_NAME, StateStore
from rag.settings import Settings

ADMIN = 9100
CODE = "nieuwsbrief-2025"
NEW_CODE = "nieuwsbrief-2026"
GROUP = -1003000000001
GROQ = "Wat zei Rick Lamers over Groq?"


class Clock:
    """A hand-turned clock for the cool-down."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def legacy_state(path: Path, user_id: int) -> None:
    """A state file as the bot wrote it before code fingerprints: subscribers without a code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE subscribers (user_id INTEGER PRIMARY KEY, unlocked_at REAL NOT NULL)")
    db.execute("INSERT INTO subscribers VALUES (?, ?)", (user_id, time.time()))
    db.commit()
    db.close()


def stored_subscribers(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT * FROM subscribers ORDER BY user_id").fetchall()
    finally:
        db.close()


# ------------------------------------------------------------------------- policy and state


def test_subscribers_are_admitted_only_while_their_code_is_configured() -> None:
    unlocked = {5: fingerprint(CODE)}
    assert AccessPolicy([], [], [CODE], unlocked).may_ask(5)
    assert AccessPolicy([], [], ["andere-code-1", CODE], unlocked).may_ask(5)
    assert not AccessPolicy([], [], [NEW_CODE], unlocked).may_ask(5)  # rotated
    assert not AccessPolicy([], [6], [], unlocked).may_ask(5)  # switched to an allowlist
    assert not AccessPolicy([], [], [CODE], {5: None}).may_ask(5)  # code unknown


def test_state_keeps_a_fingerprint_not_the_code(tmp_path: Path) -> None:
    policy = AccessPolicy([], [], [CODE])
    code_hash = policy.try_code(7, CODE)
    assert code_hash == fingerprint(CODE) and CODE not in code_hash
    store = StateStore(tmp_path / DB_NAME).open()
    store.unlock(7, code_hash)
    store.unlock(7, fingerprint(NEW_CODE))  # unlocking again with a new code replaces the old
    store.close()
    rows = stored_subscribers(tmp_path / DB_NAME)
    assert [(user_id, code) for user_id, _at, code in rows] == [(7, fingerprint(NEW_CODE))]
    assert CODE not in repr(rows)


def test_old_state_file_is_upgraded_and_its_subscribers_must_unlock_again(tmp_path: Path) -> None:
    legacy_state(tmp_path / DB_NAME, 42)
    store = StateStore(tmp_path / DB_NAME).open()
    assert store.subscribers() == {42: None}
    assert not AccessPolicy([], [], [CODE], store.subscribers()).may_ask(42)
    store.unlock(42, fingerprint(CODE))
    assert AccessPolicy([], [], [CODE], store.subscribers()).may_ask(42)
    store.close()


def test_wrong_codes_start_a_cool_down_per_user() -> None:
    clock = Clock()
    policy = AccessPolicy([], [], [CODE], attempts=CodeAttempts(clock=clock))
    for _ in range(MAX_CODE_ATTEMPTS):
        assert policy.attempts.wait(1) == 0
        assert policy.try_code(1, "geraden-code") is None
    assert policy.attempts.wait(1) == CODE_COOLDOWN_S
    assert policy.try_code(1, CODE) is None  # not even checked during the cool-down
    assert policy.try_code(2, CODE) == fingerprint(CODE)  # other users are not affected
    clock.now += CODE_COOLDOWN_S
    assert policy.try_code(1, CODE) == fingerprint(CODE)


def test_old_wrong_codes_are_forgotten_and_success_resets_the_count() -> None:
    clock = Clock()
    policy = AccessPolicy([], [], [CODE], attempts=CodeAttempts(clock=clock))
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        policy.try_code(1, "geraden-code")
    clock.now += CODE_COOLDOWN_S
    policy.try_code(1, "geraden-code")
    assert policy.attempts.wait(1) == 0
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        policy.try_code(3, "geraden-code")
    policy.add_subscriber(3, policy.try_code(3, CODE))
    policy.try_code(3, "geraden-code")
    assert policy.attempts.wait(3) == 0


def test_short_subscriber_codes_are_refused() -> None:
    ok = BotSettings(_env_file=None, subscriber_codes=f"{CODE},12345678")
    assert subscriber_codes(ok) == [CODE, "12345678"]
    short = BotSettings(_env_file=None, subscriber_codes=f"{CODE},a")
    with pytest.raises(StartupError, match=f"korter dan {MIN_CODE_LENGTH} tekens.*\n.*shorter"):
        subscriber_codes(short)


@pytest.mark.slow
def test_bot_exits_2_on_a_short_code_without_showing_it(tmp_path: Path) -> None:
    env = clean_environ()
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_BOT_TOKEN="1234567:" + "a" * 35,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot",  # never reached: nothing online
        SUBSCRIBER_CODES=f"{CODE},kort7xy",
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "korter dan 8 tekens" in result.stderr and "shorter than 8" in result.stderr
    assert "kort7xy" not in result.stderr and CODE not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# ------------------------------------------------------------------------- the running bot


@pytest.fixture(scope="module")
def corpus(sample_index: Settings, tmp_path_factory) -> tuple[Path, Path]:
    return copy_corpus(sample_index, tmp_path_factory.mktemp("bot-access"))


@pytest.fixture(scope="module")
def bot(tg: TelegramEmulator, corpus: tuple[Path, Path], tmp_path_factory) -> Iterator[BotProcess]:
    base = tmp_path_factory.mktemp("bot-access-run")
    with running_bot(
        tg,
        base / "bot.log",
        transcripts=corpus[0],
        index=corpus[1],
        state=base / "state",
        admin_user_ids=ADMIN,
        subscriber_codes=CODE,
    ) as process:
        yield process


@pytest.mark.slow
def test_five_wrong_codes_pause_code_checks(tg: TelegramEmulator, bot: BotProcess) -> None:
    user = 3101
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        assert ask(tg, "/start geraden-code", user_id=user).text == msg.CODE_INVALID
    cool_down = msg.CODE_COOLDOWN.format(minutes=CODE_COOLDOWN_S // 60)
    assert ask(tg, "/start geraden-code", user_id=user).text == cool_down
    assert ask(tg, f"/start {CODE}", user_id=user).text == cool_down  # right code, not checked
    assert ask(tg, GROQ, user_id=user).text == msg.LOCKED
    assert ask(tg, f"/start {CODE}", user_id=3102).text.startswith(msg.UNLOCKED)
    tg.assert_no_rejections()


@pytest.mark.slow
def test_codes_are_not_checked_in_groups(tg: TelegramEmulator, bot: BotProcess) -> None:
    user = 3201
    for _ in range(MAX_CODE_ATTEMPTS + 1):  # group attempts neither unlock nor count
        hint = reply_to(tg, tg.inject_command("start", CODE, chat_id=GROUP, user_id=user))
        assert hint.text == msg.CODE_PRIVATE_ONLY
    assert ask(tg, GROQ, user_id=user).text == msg.LOCKED
    assert ask(tg, f"/start {CODE}", user_id=user).text.startswith(msg.UNLOCKED)
    assert "Bronnen" in ask(tg, GROQ, user_id=user).text


@pytest.mark.slow
def test_admin_commands_only_in_private_chats(tg: TelegramEmulator, bot: BotProcess) -> None:
    group = GROUP - 1
    for command in ("stats", "reindex"):
        hint = reply_to(tg, tg.inject_command(command, chat_id=group, user_id=ADMIN))
        assert hint.text == msg.ADMIN_PRIVATE_ONLY
    refused = reply_to(tg, tg.inject_command("stats", chat_id=group, user_id=3301))
    assert refused.text == msg.ADMIN_ONLY
    help_text = reply_to(tg, tg.inject_command("help", chat_id=group, user_id=ADMIN)).text
    assert "/reindex" not in help_text
    time.sleep(1.0)  # a reindex would post its progress by now
    assert len(tg.messages_in(group)) == 4
    assert "Statistieken" in ask(tg, "/stats", user_id=ADMIN).text
    tg.assert_no_rejections()


@pytest.mark.slow
def test_rotating_or_dropping_codes_revokes_subscribers(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    subscriber, legacy = 3401, 3402
    state = tmp_path / "state"
    legacy_state(state / DB_NAME, legacy)
    with TelegramEmulator() as tg:

        def run(name: str, **access: str) -> BotProcess:
            env = bot_env(
                clean_environ(),
                tg,
                transcripts=corpus[0],
                index=corpus[1],
                state=state,
                admin_user_ids=ADMIN,
                **access,
            )
            return start_bot(env, tg, tmp_path / f"{name}.log")

        bot = run("first", subscriber_codes=CODE)
        try:
            assert ask(tg, GROQ, user_id=legacy).text == msg.LOCKED  # no code on record
            assert ask(tg, f"/start {CODE}", user_id=subscriber).text.startswith(msg.UNLOCKED)
            assert "Bronnen" in ask(tg, GROQ, user_id=subscriber).text
        finally:
            assert bot.stop() == 0
        rows = {user_id: code for user_id, _at, code in stored_subscribers(state / DB_NAME)}
        assert rows == {subscriber: fingerprint(CODE), legacy: None}

        bot = run("rotated", subscriber_codes=NEW_CODE)
        try:
            assert ask(tg, GROQ, user_id=subscriber).text == msg.LOCKED
            assert ask(tg, f"/start {CODE}", user_id=subscriber).text == msg.CODE_INVALID
            assert ask(tg, f"/start {NEW_CODE}", user_id=subscriber).text.startswith(msg.UNLOCKED)
            assert "Bronnen" in ask(tg, GROQ, user_id=subscriber).text
        finally:
            assert bot.stop() == 0

        bot = run("allowlist", allowed_user_ids="3499")
        try:
            assert ask(tg, GROQ, user_id=subscriber).text == msg.NOT_ALLOWED
            assert "Bronnen" in ask(tg, GROQ, user_id=3499).text
        finally:
            assert bot.stop() == 0
        tg.assert_no_rejections()
