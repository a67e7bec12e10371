"""Subscriber access and persistence: unlock with a deep link, restart, memory still there."""

from __future__ import annotations

from pathlib import Path

import pytest
from bot_harness import ask, bot_env, clean_environ, copy_corpus, start_bot
from tg_emulator import TelegramEmulator

from bot import messages as msg
from rag.service import AnswerService, Turn
from rag.settings import Settings

pytestmark = pytest.mark.slow

ADMIN = 9000
SUBSCRIBER = 2001
STRANGER = 2002
LISTED = 2003
CODE = "nieuwsbrief-2025"
GROQ = "Wat zei Rick Lamers over Groq?"
FOLLOW_UP = "en wat vindt hij van Europa?"


@pytest.fixture(scope="module")
def env(tg: TelegramEmulator, sample_index: Settings, tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("bot-restart")
    transcripts, index = copy_corpus(sample_index, base)
    return bot_env(
        clean_environ(),
        tg,
        transcripts=transcripts,
        index=index,
        state=base / "state",
        admin_user_ids=ADMIN,
        subscriber_codes=f"oude-code-2024, {CODE}",
        allowed_user_ids=f"{LISTED},1",
    )


def first_excerpt(text: str) -> str:
    return text.splitlines()[1]


def test_unlock_ask_restart_and_follow_up(
    tg: TelegramEmulator, env: dict[str, str], service: AnswerService, tmp_path: Path
) -> None:
    bot = start_bot(env, tg, tmp_path / "first.log")
    try:
        assert ask(tg, GROQ, user_id=SUBSCRIBER).text == msg.LOCKED
        assert ask(tg, "/start", user_id=SUBSCRIBER).text == msg.LOCKED
        assert ask(tg, "/start verkeerde-code", user_id=SUBSCRIBER).text == msg.CODE_INVALID
        welcome = ask(tg, f"/start {CODE}", user_id=SUBSCRIBER)
        assert welcome.text.startswith(msg.UNLOCKED)
        assert "Probeer bijvoorbeeld" in welcome.text
        first = ask(tg, GROQ, user_id=SUBSCRIBER)
        assert "Bronnen" in first.text
        # Admins and ALLOWED_USER_IDS never need a code; /help is open to everyone.
        assert "Bronnen" in ask(tg, GROQ, user_id=ADMIN).text
        assert "Bronnen" in ask(tg, GROQ, user_id=LISTED).text
        assert ask(tg, "/help", user_id=STRANGER).text.startswith("Zo werk ik")
    finally:
        assert bot.stop() == 0

    expected = service.ask(FOLLOW_UP, [Turn(GROQ, service.ask(GROQ).text)])
    assert first_excerpt(expected.text) != first_excerpt(service.ask(FOLLOW_UP).text)

    bot = start_bot(env, tg, tmp_path / "second.log")
    try:
        follow_up = ask(tg, FOLLOW_UP, user_id=SUBSCRIBER)  # no /start: still unlocked
        assert first_excerpt(follow_up.text) == first_excerpt(expected.text)
        quotes = ask(tg, "/bronnen", user_id=SUBSCRIBER)
        assert f"„{FOLLOW_UP}”" in quotes.text
        # The Bronnen button of the answer from before the restart still works.
        tg.inject_callback_query(
            SUBSCRIBER, first.message_id, first.callback_data[0], user_id=SUBSCRIBER
        )
        old = tg.wait_for_message(
            SUBSCRIBER,
            predicate=lambda m: m.reply_to_message_id == first.message_id,
            timeout=20,
        )
        assert f"„{GROQ}”" in old.text
        assert ask(tg, GROQ, user_id=STRANGER).text == msg.LOCKED
        tg.assert_no_rejections()
    finally:
        assert bot.stop() == 0
