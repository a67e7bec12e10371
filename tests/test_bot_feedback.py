"""The comment after a 👎, /opmerkingen and the content gaps in /stats, in the real bot
process against the Telegram Bot API emulator.

One bot serves the module. Each test votes from its own users, so the comment requests
(one per user per chat) do not meet. Users have ids that cannot appear in a reply by
accident, so "no user ids in the output" means something.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bot_harness import (
    BotProcess,
    ask,
    copy_corpus,
    press,
    replies,
    reply_to,
    running_bot,
    vote_down,
)
from tg_emulator import SentMessage, TelegramEmulator

from bot import messages as msg
from bot.answering import MAX_QUESTION_CHARS
from bot.feedback import CommentRequest, PendingComments
from bot.state import DB_NAME
from rag.service import AnswerService
from rag.settings import Settings

pytestmark = pytest.mark.slow

ADMIN = 8420001
CRITIC = 8420002  # comments after a 👎
SKIPPER = 8420003  # skips by button, then by word
COMMANDER = 8420004  # a command ends the request; a long comment is refused
GROUPIE = 8420005  # comments in a group, as a reply to the bot
CURIOUS = 8420006  # asks the unanswerable question too (a second chat for the gaps)
STRANGER = 8420007
QUICK = 8420008  # answers a comment request before the bot has heard it was sent
GROUP = -1008420000
USERS = [ADMIN, CRITIC, SKIPPER, COMMANDER, GROUPIE, CURIOUS, STRANGER, QUICK]
GROQ = "Wat zei Rick Lamers over Groq?"
UNANSWERABLE = "Welk recept voor appeltaart gebruikt de moeder van de presentator?"
COMMENT = "Het ging me om de chips van Groq, niet om de chatbot <Grok> & co."


@dataclass
class Bot:
    state: Path
    process: BotProcess

    @property
    def db(self) -> Path:
        return self.state / DB_NAME


@pytest.fixture(scope="module")
def bot(tg: TelegramEmulator, sample_index: Settings, tmp_path_factory) -> Iterator[Bot]:
    base = tmp_path_factory.mktemp("bot-feedback")
    transcripts, index = copy_corpus(sample_index, base)
    with running_bot(
        tg,
        base / "bot.log",
        transcripts=transcripts,
        index=index,
        state=base / "state",
        admin_user_ids=ADMIN,
    ) as process:
        yield Bot(base / "state", process)
    assert tg.rejections() == []


def comments(db: Path) -> list[tuple[int, str | None, str | None]]:
    """(user_id, question, comment) of the votes with a comment on disk."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT user_id, question, comment FROM answer_feedback "
            "WHERE comment IS NOT NULL ORDER BY commented_at"
        )
        return rows.fetchall()


def skip_data(prompt: SentMessage) -> str:
    [data] = prompt.callback_data
    assert data.startswith("fbs:")
    assert [b["text"] for b in prompt.buttons] == [msg.FEEDBACK_SKIP_BUTTON]
    return data


def is_answer(message: SentMessage) -> bool:
    return any(d.startswith("fb:") for d in message.callback_data)


def button_removed(tg: TelegramEmulator, prompt: SentMessage) -> SentMessage:
    return tg.wait_for(
        lambda: (m := tg.get_message(prompt.chat_id, prompt.message_id)).callback_data == [] and m,
        timeout=30,
    )


def test_a_comment_typed_while_its_prompt_is_being_sent_still_removes_the_button(
    tg: TelegramEmulator, bot: Bot
) -> None:
    # The request is registered before the prompt is sent, so a quick reply counts; but
    # a reply handled before the send returned took a request without the prompt's id,
    # and the prompt kept its "Overslaan" button for good.
    answer = ask(tg, GROQ, user_id=QUICK)
    release = tg.hold_next("sendMessage")
    try:
        prompt = vote_down(tg, answer, QUICK)  # seen by the user, not yet by the bot
        skipped = tg.inject_private_message("Overslaan", user_id=QUICK)
        assert reply_to(tg, skipped).text == msg.FEEDBACK_COMMENT_SKIPPED
    finally:
        release.set()
    button_removed(tg, prompt)


def test_the_next_message_after_a_thumbs_down_is_the_comment(
    tg: TelegramEmulator, bot: Bot
) -> None:
    answer = ask(tg, GROQ, user_id=CRITIC)
    prompt = vote_down(tg, answer, CRITIC)
    assert "Wat klopte er niet" in prompt.text and f"hoogstens {MAX_QUESTION_CHARS}" in prompt.text
    skip_data(prompt)

    update = tg.inject_private_message(COMMENT, user_id=CRITIC)
    assert reply_to(tg, update).text == msg.FEEDBACK_COMMENT_SAVED
    assert comments(bot.db) == [(CRITIC, GROQ, COMMENT)]
    button_removed(tg, prompt)

    # The request is used up: the next message is a question again.
    assert is_answer(ask(tg, GROQ, user_id=CRITIC))
    assert [m.text for m in replies(tg, update)] == [msg.FEEDBACK_COMMENT_SAVED]  # no answer

    # The same 👎 again does not ask again; a 👍 takes the comment with the 👎 it explained.
    [down] = [d for d in answer.callback_data if d.endswith(":d")]
    assert press(tg, CRITIC, answer.message_id, down, CRITIC) == msg.FEEDBACK_SAME
    assert is_answer(ask(tg, "Wat is Groq?", user_id=CRITIC))
    up = down[:-1] + "u"
    assert press(tg, CRITIC, answer.message_id, up, CRITIC) == msg.FEEDBACK_CHANGED
    assert comments(bot.db) == []
    prompt = vote_down(tg, answer, CRITIC)  # changed back: asked again
    assert reply_to(tg, tg.inject_private_message(COMMENT, user_id=CRITIC)).text == (
        msg.FEEDBACK_COMMENT_SAVED
    )
    assert comments(bot.db) == [(CRITIC, GROQ, COMMENT)]


def test_skipping_by_button_or_by_word(tg: TelegramEmulator, bot: Bot) -> None:
    answer = ask(tg, GROQ, user_id=SKIPPER)
    prompt = vote_down(tg, answer, SKIPPER)
    data = skip_data(prompt)
    assert press(tg, SKIPPER, prompt.message_id, data, SKIPPER) == msg.FEEDBACK_COMMENT_SKIPPED
    button_removed(tg, prompt)
    assert is_answer(ask(tg, GROQ, user_id=SKIPPER))  # a question again
    update = tg.inject_callback_query(
        SKIPPER, prompt.message_id, data, user_id=SKIPPER, check_button=False
    )
    query = update["callback_query"]["id"]
    assert tg.wait_for(lambda: tg.callback_answers(query), timeout=30)[0].text == (
        msg.FEEDBACK_SKIP_NOT_PENDING
    )

    other = ask(tg, UNANSWERABLE, user_id=SKIPPER)
    prompt = vote_down(tg, other, SKIPPER)
    assert reply_to(tg, tg.inject_private_message("Overslaan", user_id=SKIPPER)).text == (
        msg.FEEDBACK_COMMENT_SKIPPED
    )
    button_removed(tg, prompt)
    assert is_answer(ask(tg, "overslaan", user_id=SKIPPER))  # only the answer to a request
    assert [c for c in comments(bot.db) if c[0] == SKIPPER] == []


def test_a_command_ends_the_request_and_a_long_comment_is_refused(
    tg: TelegramEmulator, bot: Bot
) -> None:
    answer = ask(tg, UNANSWERABLE, user_id=COMMANDER)
    vote_down(tg, answer, COMMANDER)
    long_comment = "Dit klopt niet want " + "x" * MAX_QUESTION_CHARS
    refused = ask(tg, long_comment, user_id=COMMANDER)
    assert refused.text.startswith(f"Je opmerking is wat lang ({len(long_comment)} tekens)")
    assert ask(tg, "/help", user_id=COMMANDER).text.startswith("Zo werk ik")  # runs as usual
    assert is_answer(ask(tg, "Dat was alles, wat zei Rick over Groq?", user_id=COMMANDER))
    assert [c for c in comments(bot.db) if c[0] == COMMANDER] == []


def test_in_a_group_the_comment_is_a_reply_to_the_bot(tg: TelegramEmulator, bot: Bot) -> None:
    update = tg.inject_command(
        f"/vraag@{tg.bot_username}", UNANSWERABLE, chat_id=GROUP, user_id=GROUPIE
    )
    answer = reply_to(tg, update)
    prompt = vote_down(tg, answer, GROUPIE)
    assert "Antwoord op dit bericht" in prompt.text
    chatter = tg.inject_message("Iets anders, hoor", chat_id=GROUP, user_id=GROUPIE)
    comment = tg.inject_message(
        "Ik had op iets over bakken gehoopt.",
        chat_id=GROUP,
        user_id=GROUPIE,
        reply_to_message_id=prompt.message_id,
    )
    assert reply_to(tg, comment).text == msg.FEEDBACK_COMMENT_SAVED
    assert replies(tg, chatter) == []  # not addressed to the bot: neither comment nor question
    assert (GROUPIE, UNANSWERABLE, "Ik had op iets over bakken gehoopt.") in comments(bot.db)


def test_stats_and_opmerkingen_show_comments_and_gaps_without_user_ids(
    tg: TelegramEmulator, bot: Bot, service: AnswerService
) -> None:
    assert service.ask(UNANSWERABLE).verdict in ("unsure", "not_found")
    ask(tg, UNANSWERABLE.upper(), user_id=CURIOUS)  # the same question, in another chat
    assert ask(tg, "/opmerkingen", user_id=STRANGER).text == msg.ADMIN_ONLY
    assert ask(tg, "/stats", user_id=STRANGER).text == msg.ADMIN_ONLY

    stats = ask(tg, "/stats", user_id=ADMIN, timeout=60).text
    assert "Opmerkingen bij 👎: 2" in stats
    assert "Niet in het archief, vaakst gevraagd" in stats
    gaps = stats.split("vaakst gevraagd", 1)[1]
    # SKIPPER, COMMANDER, CURIOUS in private chats and GROUPIE in the group: 4 chats.
    assert f"1. {UNANSWERABLE} (4×, in 4 chats)" in gaps
    assert GROQ not in gaps  # answered: not a gap

    listing = ask(tg, "/opmerkingen", user_id=ADMIN).text
    assert listing.startswith("Opmerkingen bij 👎 (de laatste 2 van 2)")
    assert COMMENT in listing and "Ik had op iets over bakken gehoopt." in listing
    assert listing.index("bakken") < listing.index(COMMENT)  # newest first
    assert f"vraag: {GROQ}" in listing
    for output in (stats, listing):
        assert not any(str(abs(u)) in output for u in USERS + [GROUP])

    assert ask(tg, "/vergeet", user_id=CRITIC).text == msg.FORGET_ME_DONE
    assert [c for c in comments(bot.db) if c[0] == CRITIC] == []
    listing = ask(tg, "/opmerkingen", user_id=ADMIN).text
    assert COMMENT not in listing and "de laatste 1 van 1" in listing


def test_a_request_lapses_after_its_time() -> None:
    pending = PendingComments(wait_s=0.05)
    pending.add(1, 2, CommentRequest(7, "q", None, time.monotonic() + pending.wait_s))
    assert pending.get(1, 2) is not None and pending.get(1, 3) is None
    assert not pending.drop(1, 2, answer_id=8)  # about another answer: kept
    time.sleep(0.1)
    assert pending.take(1, 2) is None and len(pending) == 0
