"""In-process checks with real `Update` objects and a real `Bot` against the emulator."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
from telegram import Bot, Update
from tg_emulator import DEFAULT_GROUP_ID, TelegramEmulator

from bot import messages as msg
from bot.handlers import ADDRESSED_TO_BOT, OTHER_INPUT, QUESTION, without_mention
from bot.reindex import ProgressMessage


@pytest.fixture
def tg(emulator: TelegramEmulator) -> TelegramEmulator:
    """A fresh emulator for each test (conftest's `emulator`)."""
    return emulator


@pytest.fixture
def bot(client: Bot) -> Bot:
    """A python-telegram-bot client on it (conftest's `client`)."""
    return client


def update_of(raw: dict, bot: Bot) -> Update:
    return Update.de_json(raw, bot)


async def test_which_messages_count_as_questions(tg: TelegramEmulator, bot: Bot) -> None:
    private = update_of(tg.inject_private_message("wat is groq?"), bot)
    chatter = update_of(tg.inject_group_message("gezellig hier"), bot)
    mention = update_of(tg.inject_group_message("wat is groq?", mention_bot=True), bot)
    other_mention = update_of(tg.inject_group_message("@iemand_anders wat is groq?"), bot)
    command = update_of(tg.inject_private_message("/start"), bot)
    sent = await bot.send_message(DEFAULT_GROUP_ID, "Een antwoord")
    reply = update_of(
        tg.inject_group_message("en verder?", reply_to_message_id=sent.message_id), bot
    )
    human = tg.inject_group_message("ik ben een mens", user_id=77)
    reply_to_human = update_of(
        tg.inject_group_message("klopt", reply_to_message_id=human["message"]["message_id"]), bot
    )

    assert QUESTION.check_update(private)
    assert QUESTION.check_update(mention)
    assert QUESTION.check_update(reply)
    assert not QUESTION.check_update(chatter)
    assert not QUESTION.check_update(other_mention)
    assert not QUESTION.check_update(command)
    assert not QUESTION.check_update(reply_to_human)
    assert ADDRESSED_TO_BOT.check_update(reply)


async def test_edited_questions_pass_the_filter_media_edits_do_not(
    tg: TelegramEmulator, bot: Bot
) -> None:
    raw = tg.inject_private_message("wat is groq?")
    edited = update_of(
        tg.inject_edited_message(1001, raw["message"]["message_id"], "wat is grok?"), bot
    )
    assert edited.edited_message is not None
    assert QUESTION.check_update(edited)
    sticker = update_of(tg.inject_sticker(), bot)
    assert OTHER_INPUT.check_update(sticker)
    group_sticker = update_of(tg.inject_sticker(chat_id=DEFAULT_GROUP_ID), bot)
    assert not OTHER_INPUT.check_update(group_sticker)  # group chatter, not for the bot


def test_without_mention() -> None:
    assert without_mention("@Vraagbaak_Test_Bot wat is groq?", "vraagbaak_test_bot").strip() == (
        "wat is groq?"
    )
    assert without_mention("@vraagbaak_test_botje hoi", "vraagbaak_test_bot") == (
        "@vraagbaak_test_botje hoi"
    )


async def test_progress_from_a_worker_thread_is_throttled_and_never_repeats(
    tg: TelegramEmulator, bot: Bot
) -> None:
    tg.inject_private_message("/reindex")  # the chat exists once the user wrote to the bot
    status = await bot.send_message(1001, "start")
    progress = ProgressMessage(status, asyncio.get_running_loop(), interval=0.3)

    def build() -> None:  # what rag's embedder does: many quick callbacks from a thread
        for done in range(0, 401, 4):
            progress.report(done, 400)
            time.sleep(0.01)

    started = time.monotonic()
    worker = threading.Thread(target=build)
    worker.start()
    while worker.is_alive():
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.4)  # let the last throttled edit through
    await progress.finish(["<b>Klaar</b>"])
    elapsed = time.monotonic() - started

    sent = tg.get_message(1001, status.message_id)
    versions = [v.text for v in sent.history]
    progress_texts = [t for t in versions if t.startswith("Index bijwerken")]
    assert 2 <= len(progress_texts) <= elapsed / 0.3 + 2  # throttled, not 101 edits
    assert progress_texts[-1] == msg.REINDEX_PROGRESS.format(done=400, total=400, percent=100)
    counts = [int(re.search(r"(\d+)/400", t).group(1)) for t in progress_texts]
    assert counts == sorted(counts)
    assert versions[-1] == "Klaar"
    tg.assert_no_rejections()
