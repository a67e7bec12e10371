"""The webinar inbox in the real bot process, against the Telegram Bot API emulator.

One bot serves the module (restarted once, to check what survives); the last test starts a
second bot with the OpenAI stub as its LLM, for the export's group summaries. Some
questions are put in the state file before the start, so the limit and the grouping are
tested without filing each one through Telegram. Users have ids that cannot appear in a
document by accident (dates, times), so "no user ids in the export" means something.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bot_harness import (
    BotProcess,
    ask,
    bot_env,
    clean_environ,
    copy_corpus,
    reply_to,
    start_bot,
)
from openai_server import OpenAIStubServer, count_tokens, message_text
from tg_emulator import TelegramEmulator

from bot import messages as msg
from bot.state import DB_NAME, MAX_OPEN_WEBINAR_QUESTIONS, StateStore
from rag.service import AnswerService
from rag.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 7310001
ASKER = 7310002  # files by command
FULL = 7310003  # has the maximum of open questions before the start
OWNER = 7310004  # has two open questions before the start
STRANGER = 7310005
GPT_NL_A = 7310006
GPT_NL_B = 7310007
HASTY = 7310008  # files faster than the question limit allows
BUTTONER = 7310009  # files by the button under an answer
PRESSER = 7310010  # presses the button under someone else's answer in the group
BLOCKED = 7310011  # has an open question and blocked the bot before the round closes
VOTER = 7310012  # votes 👍, then 👎 on one answer
GROUP = -1007310000
GROQ = "Wat zei Rick Lamers over Groq?"
UNANSWERABLE = "Welk recept voor appeltaart gebruikt de moeder van de presentator?"
PARAPHRASE_A = "Komt er een Nederlands taalmodel zoals GPT-NL?"
PARAPHRASE_B = "Hoe staat het met GPT-NL, het Nederlandse taalmodel?"
INFO = "Donderdag 12 juni om 20:00 uur, de link volgt in de nieuwsbrief."
OWNER_QUESTIONS = ["Wat vinden jullie van robots in de zorg?", "Hoe werkt quantisatie?"]
RECORDING = "https://www.youtube.com/watch?v=webinar1&t=5"
KEY = "sk-webinar-cli-test"
USERS = [ADMIN, ASKER, FULL, OWNER, STRANGER, GPT_NL_A, GPT_NL_B, HASTY, BUTTONER, PRESSER]
USERS += [BLOCKED]


@dataclass
class Bot:
    env: dict[str, str]
    base: Path
    state: Path
    process: BotProcess

    @property
    def db(self) -> Path:
        return self.state / DB_NAME


@pytest.fixture(scope="module")
def bot(tg: TelegramEmulator, sample_index: Settings, tmp_path_factory) -> Iterator[Bot]:
    base = tmp_path_factory.mktemp("bot-webinar")
    transcripts, index = copy_corpus(sample_index, base)
    state = base / "state"
    store = StateStore(state / DB_NAME).open()
    for i in range(MAX_OPEN_WEBINAR_QUESTIONS):
        store.add_webinar_question(FULL, FULL, f"Vraag {i} over de toekomst van AI-chips?")
    for question in OWNER_QUESTIONS:
        store.add_webinar_question(OWNER, OWNER, question)
    store.add_webinar_question(GPT_NL_A, GPT_NL_A, PARAPHRASE_A)
    store.add_webinar_question(GPT_NL_B, GROUP, PARAPHRASE_B)
    store.add_webinar_question(BLOCKED, BLOCKED, "Wat kost het trainen van een taalmodel?")
    store.close()
    env = bot_env(
        clean_environ(),
        tg,
        transcripts=transcripts,
        index=index,
        state=state,
        admin_user_ids=ADMIN,
        user_questions_burst=3,
    )
    running = Bot(env, base, state, start_bot(env, tg, base / "bot.log"))
    yield running
    assert running.process.stop() == 0, running.process.output()[-3000:]
    blocked = [c for c in tg.rejections() if str(c.params.get("chat_id")) == str(BLOCKED)]
    assert all(c.error_code == 403 for c in blocked)
    assert len(tg.rejections()) == len(blocked), tg.rejections()


def open_questions(db: Path, user_id: int | None = None) -> list[tuple[int, int, str, str | None]]:
    """(user_id, chat_id, question, verdict) of the open questions on disk."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT user_id, chat_id, question, verdict FROM webinar_questions "
            "WHERE round IS NULL ORDER BY id"
        ).fetchall()
    return [r for r in rows if user_id is None or r[0] == user_id]


def command(tg: TelegramEmulator, text: str, user_id: int, **kwargs) -> dict:
    name, _, args = text.partition(" ")
    return tg.inject_command(name, args, user_id=user_id, **kwargs)


def test_webinar_alone_explains_and_admin_sets_the_info(tg: TelegramEmulator, bot: Bot) -> None:
    usage = ask(tg, "/webinar", user_id=STRANGER)
    assert usage.text.startswith("Vragen voor het webinar")
    assert "/mijnvragen" in usage.text and "hoogstens 10 vragen" in usage.text
    assert "hoor je van de makers" in usage.text  # no info set yet

    reply = ask(tg, f"/webinarinfo {INFO} <b>", user_id=ADMIN)
    assert reply.text.startswith("Opgeslagen.") and f"{INFO} <b>" in reply.text  # escaped
    assert INFO in ask(tg, "/webinar", user_id=STRANGER).text


def test_admin_commands_are_refused_for_others_and_in_groups(
    tg: TelegramEmulator, bot: Bot
) -> None:
    assert ask(tg, "/webinarinfo Morgen!", user_id=STRANGER).text == msg.ADMIN_ONLY
    assert ask(tg, "/webinarvragen", user_id=STRANGER).text == msg.ADMIN_ONLY
    in_group = reply_to(tg, command(tg, "/webinarvragen", ADMIN, chat_id=GROUP))
    assert in_group.text == msg.ADMIN_PRIVATE_ONLY
    in_group = reply_to(tg, command(tg, "/webinarinfo Morgen!", ADMIN, chat_id=GROUP))
    assert in_group.text == msg.ADMIN_PRIVATE_ONLY
    assert not [m for m in tg.messages_in(GROUP) if m.kind == "document"]
    assert not [m for m in tg.messages_in(STRANGER) if m.kind == "document"]
    with sqlite3.connect(bot.db) as conn:
        info = conn.execute("SELECT value FROM settings WHERE key = 'webinar_info'").fetchone()
    assert "Morgen" not in info[0]


def test_filing_by_command_confirms_and_shows_the_archives_answer(
    tg: TelegramEmulator, bot: Bot, service: AnswerService
) -> None:
    assert service.ask(GROQ).verdict == "found"  # the archive answers this one
    update = command(tg, f"/webinar {GROQ}", ASKER)
    confirmation = reply_to(tg, update, text_contains="op de lijst")
    assert GROQ in confirmation.text and INFO in confirmation.text
    assert "hieronder" in confirmation.text
    answer = tg.wait_for_message(
        ASKER,
        predicate=lambda m: (
            m.reply_to_message_id == update["message"]["message_id"] and bool(m.callback_data)
        ),
        timeout=20,
    )
    assert answer.callback_data[0].startswith("src:")  # the normal answer, with Bronnen
    assert "Groq" in answer.text

    other = ask(tg, f"/webinar {UNANSWERABLE}", user_id=ASKER)
    assert "op de lijst" in other.text and "hieronder" not in other.text

    in_group = reply_to(tg, command(tg, f"/webinar@{tg.bot_username} {GROQ}", ASKER, chat_id=GROUP))
    assert "al op de lijst" in in_group.text  # the same question is filed once

    rows = open_questions(bot.db, ASKER)
    assert [(r[1], r[2]) for r in rows] == [(ASKER, GROQ), (ASKER, UNANSWERABLE)]
    assert rows[0][3] == "found" and rows[1][3] != "found"


def press(tg: TelegramEmulator, chat_id: int, message_id: int, data: str, user_id: int) -> str:
    """Press a button; the text of the bot's answer to the callback query."""
    update = tg.inject_callback_query(chat_id, message_id, data, user_id=user_id)
    query = update["callback_query"]["id"]
    return tg.wait_for(lambda: tg.callback_answers(query), timeout=10)[0].text


def webinar_buttons(message) -> list[str]:
    return [d for d in message.callback_data if d.startswith("wbq:")]


def test_webinar_button_under_unsure_answers_files_once_per_person(
    tg: TelegramEmulator, bot: Bot, service: AnswerService
) -> None:
    assert service.ask(UNANSWERABLE).verdict in ("unsure", "not_found")
    assert webinar_buttons(ask(tg, GROQ, user_id=BUTTONER)) == []  # found: no button
    answer = ask(tg, UNANSWERABLE, user_id=BUTTONER)
    [data] = webinar_buttons(answer)
    assert msg.WEBINAR_FILE_BUTTON in [b.get("text") for b in answer.buttons]
    assert press(tg, BUTTONER, answer.message_id, data, BUTTONER) == msg.WEBINAR_FILE_FILED
    assert press(tg, BUTTONER, answer.message_id, data, BUTTONER) == msg.WEBINAR_FILE_DUPLICATE
    [(user_id, chat_id, question, verdict)] = open_questions(bot.db, BUTTONER)
    assert (user_id, chat_id, question) == (BUTTONER, BUTTONER, UNANSWERABLE)
    assert verdict in ("unsure", "not_found")  # the answer's verdict goes with it
    said = tg.wait_for_message(
        BUTTONER, predicate=lambda m: m.reply_to_message_id == answer.message_id
    )
    assert said.text.startswith("Je vraag staat op de lijst") and UNANSWERABLE in said.text

    # In a group, whoever presses files the question under their own name, once each.
    asked = command(tg, f"/vraag@{tg.bot_username} {UNANSWERABLE}", BUTTONER, chat_id=GROUP)
    in_group = reply_to(tg, asked)
    [data] = webinar_buttons(in_group)
    assert press(tg, GROUP, in_group.message_id, data, PRESSER) == msg.WEBINAR_FILE_FILED
    assert press(tg, GROUP, in_group.message_id, data, PRESSER) == msg.WEBINAR_FILE_DUPLICATE
    assert press(tg, GROUP, in_group.message_id, data, BUTTONER) == msg.WEBINAR_FILE_DUPLICATE
    assert [r[:3] for r in open_questions(bot.db, PRESSER)] == [(PRESSER, GROUP, UNANSWERABLE)]
    assert len(open_questions(bot.db, BUTTONER)) == 1


def test_feedback_one_vote_per_user_per_answer_and_stats(tg: TelegramEmulator, bot: Bot) -> None:
    answer = ask(tg, GROQ, user_id=VOTER)
    votes = [d for d in answer.callback_data if d.startswith("fb:")]
    assert votes == [f"fb:{votes[0].split(':')[1]}:u", f"fb:{votes[0].split(':')[1]}:d"]
    up, down = votes
    assert press(tg, VOTER, answer.message_id, up, VOTER) == msg.FEEDBACK_THANKS
    assert press(tg, VOTER, answer.message_id, up, VOTER) == msg.FEEDBACK_SAME
    assert press(tg, VOTER, answer.message_id, down, VOTER) == msg.FEEDBACK_CHANGED
    assert press(tg, VOTER, answer.message_id, up, STRANGER) == msg.FEEDBACK_THANKS
    with sqlite3.connect(bot.db) as conn:
        rows = conn.execute("SELECT user_id, vote FROM answer_feedback ORDER BY user_id")
        assert rows.fetchall() == [(STRANGER, 1), (VOTER, -1)]  # a second press changed it
    stats = ask(tg, "/stats", user_id=ADMIN).text
    assert "Feedback: 👍 1 · 👎 1 (50% positief); sinds de start 👍 1 · 👎 1" in stats


def test_too_many_open_questions_and_too_long_ones_are_refused(
    tg: TelegramEmulator, bot: Bot
) -> None:
    assert len(open_questions(bot.db, FULL)) == MAX_OPEN_WEBINAR_QUESTIONS
    reply = ask(tg, "/webinar Nog een vraag over AI?", user_id=FULL)
    assert reply.text == msg.WEBINAR_FULL.format(limit=MAX_OPEN_WEBINAR_QUESTIONS)
    long_question = "Waarom " + "heel " * 200 + "lang?"
    reply = ask(tg, f"/webinar {long_question}", user_id=STRANGER)
    assert reply.text.startswith("Je bericht is wat lang (1012 tekens)")
    assert len(open_questions(bot.db, FULL)) == MAX_OPEN_WEBINAR_QUESTIONS
    assert open_questions(bot.db, STRANGER) == []


def test_filing_counts_against_the_question_limit(tg: TelegramEmulator, bot: Bot) -> None:
    updates = [command(tg, f"/webinar Vraag {i} over robotauto's?", HASTY) for i in range(4)]
    replies = [reply_to(tg, u).text for u in updates]
    assert sum(r.startswith("Je stelt veel vragen kort na elkaar") for r in replies) == 1
    assert len(open_questions(bot.db, HASTY)) == 3  # burst 3 in this module


def test_mijnvragen_withdraw_is_for_the_owner_only(tg: TelegramEmulator, bot: Bot) -> None:
    listing = ask(tg, "/mijnvragen", user_id=OWNER)
    assert all(q in listing.text for q in OWNER_QUESTIONS)
    first = listing.callback_data[0]
    assert len(listing.callback_data) == 2

    def press(user_id: int, check_button: bool = True) -> str | None:
        query = tg.inject_callback_query(
            OWNER, listing.message_id, first, user_id=user_id, check_button=check_button
        )["callback_query"]["id"]
        return tg.wait_for(lambda: tg.callback_answers(query), timeout=10)[0].text

    assert press(STRANGER) == msg.WEBINAR_WITHDRAW_GONE
    assert len(open_questions(bot.db, OWNER)) == 2
    assert press(OWNER) == msg.WEBINAR_WITHDRAWN
    assert [r[2] for r in open_questions(bot.db, OWNER)] == OWNER_QUESTIONS[1:]
    edited = tg.wait_for(
        lambda: (m := tg.get_message(OWNER, listing.message_id)).edits and m, timeout=10
    )
    assert OWNER_QUESTIONS[0] not in edited.text and len(edited.callback_data) == 1
    assert press(OWNER, check_button=False) == msg.WEBINAR_WITHDRAW_GONE  # twice: harmless
    assert len(open_questions(bot.db, OWNER)) == 1

    in_group = reply_to(tg, command(tg, "/mijnvragen", OWNER, chat_id=GROUP))
    assert in_group.text == msg.WEBINAR_PRIVATE_ONLY


def export_document(tg: TelegramEmulator) -> str:
    before = len([m for m in tg.messages_in(ADMIN) if m.kind == "document"])
    summary = ask(tg, "/webinarvragen", user_id=ADMIN, timeout=60)
    assert summary.text.startswith("Webinarvragen")
    documents = tg.wait_for(
        lambda: [m for m in tg.messages_in(ADMIN) if m.kind == "document"][before:], timeout=30
    )
    assert documents[0].file.filename.endswith(".md")
    document = documents[0].file.content.decode("utf-8")
    return document


def group_of(document: str, wording: str) -> str:
    sections = document.split("\n## ")[1:]
    return next(s for s in sections if f"  - {wording}" in s)


def test_export_groups_paraphrases_of_two_people_without_naming_them(
    tg: TelegramEmulator, bot: Bot
) -> None:
    document = export_document(tg)
    section = group_of(document, PARAPHRASE_A)
    assert f"  - {PARAPHRASE_B}" in section
    assert "Gesteld door 2 personen (2 keer)" in section
    assert section.count("\n  - ") == 2
    assert "- Archief: **" in section
    groq = group_of(document, GROQ)
    assert "Archief: **gevonden**" in groq and "](https://www.youtube.com/watch?v=" in groq
    full = group_of(document, "Vraag 0 over de toekomst van AI-chips?")
    assert "Gesteld door 1 persoon" in full  # ten questions of one user: one asker
    assert document.index(PARAPHRASE_A) < document.index("Vraag 0 over de toekomst")
    for user_id in USERS + [GROUP]:
        assert str(abs(user_id)) not in document


def run_cli(bot: Bot, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in bot.env.items() if not k.startswith("TELEGRAM_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({k.upper(): v for k, v in extra_env.items()})
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "webinar", *args, "--state-dir", str(bot.state)],
        env=env,
        cwd=bot.base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_export_and_list_without_a_telegram_token(bot: Bot) -> None:
    markdown = run_cli(bot, "export")
    assert markdown.returncode == 0, markdown.stderr
    section = group_of(markdown.stdout, PARAPHRASE_A)
    assert "Gesteld door 2 personen (2 keer)" in section
    assert "Archief: **gevonden**" in group_of(markdown.stdout, GROQ)

    table = run_cli(bot, "export", "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    paraphrases = [r for r in rows if r["formulering"] in (PARAPHRASE_A, PARAPHRASE_B)]
    assert len(paraphrases) == 2 and paraphrases[0]["groep"] == paraphrases[1]["groep"]
    assert paraphrases[0]["vragers"] == "2"
    assert len(rows) == len(open_questions(bot.db))

    listing = run_cli(bot, "list")
    assert listing.returncode == 0, listing.stderr
    assert f"{len(open_questions(bot.db))} open vragen in" in listing.stdout
    for output in (markdown.stdout, table.stdout, listing.stdout):
        assert not any(str(abs(u)) in output for u in USERS + [GROUP])


def summaries(body: dict) -> str:
    """The stub model: one line per group it was given, naming the GPT-NL group."""
    content = body["messages"][-1]["content"]
    lines = []
    for block in re.split(r"\n\n(?=Groep \d+:)", content):
        match = re.match(r"Groep (\d+):", block)
        if match:
            topic = "GPT-NL" if "GPT-NL" in block else "iets anders"
            lines.append(f"{match.group(1)}: Samenvatting over {topic}")
    return "\n".join(lines)


def test_cli_export_with_an_llm_heads_groups_with_a_summary(
    bot: Bot, openai_stub: OpenAIStubServer
) -> None:
    llm = {"openai_base_url": openai_stub.base_url, "openai_api_key": KEY, "llm_max_retries": "0"}
    openai_stub.reset()
    openai_stub.script(summaries)
    markdown = run_cli(bot, "export", **llm)
    assert markdown.returncode == 0, markdown.stderr
    [request] = openai_stub.requests_to("/v1/chat/completions")  # one request for the export
    assert PARAPHRASE_A in request.text and PARAPHRASE_B in request.text
    section = group_of(markdown.stdout, PARAPHRASE_A)
    assert section.split("\n", 1)[0].endswith(". Samenvatting over GPT-NL")
    assert msg.WEBINAR_SUMMARY_NOTE in section and "Gesteld door 2 personen" in section
    single = group_of(markdown.stdout, UNANSWERABLE)  # one wording: not summarised
    assert UNANSWERABLE in single.split("\n", 1)[0] and msg.WEBINAR_SUMMARY_NOTE not in single

    table = run_cli(bot, "export", "--format", "csv", **llm)
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    paraphrases = [r for r in rows if r["formulering"] in (PARAPHRASE_A, PARAPHRASE_B)]
    assert [r["samenvatting"] for r in paraphrases] == ["Samenvatting over GPT-NL"] * 2

    openai_stub.reset()
    openai_stub.set_behaviour("500")  # the provider fails: the representative wording heads it
    failed = run_cli(bot, "export", **llm)
    assert failed.returncode == 0, failed.stderr
    assert len(openai_stub.requests_to("/v1/chat/completions")) == 1
    section = group_of(failed.stdout, PARAPHRASE_A)
    heading = section.split("\n", 1)[0]
    assert PARAPHRASE_A in heading or PARAPHRASE_B in heading
    assert "Samenvatting over" not in failed.stdout and msg.WEBINAR_SUMMARY_NOTE not in section
    assert "summaries failed" in failed.stderr
    openai_stub.reset()


def test_restart_keeps_questions_and_info(tg: TelegramEmulator, bot: Bot) -> None:
    before = open_questions(bot.db)
    assert bot.process.stop() == 0
    bot.process = start_bot(bot.env, tg, bot.base / "bot-2.log")
    assert open_questions(bot.db) == before
    listing = ask(tg, "/mijnvragen", user_id=OWNER)
    assert OWNER_QUESTIONS[1] in listing.text and len(listing.callback_data) == 1
    assert INFO in ask(tg, "/webinar", user_id=STRANGER).text
    reply = ask(tg, "/webinar Nog een vraag over AI?", user_id=FULL)
    assert reply.text == msg.WEBINAR_FULL.format(limit=MAX_OPEN_WEBINAR_QUESTIONS)


def test_closing_the_round_thanks_each_asker_once_and_archives(
    tg: TelegramEmulator, bot: Bot
) -> None:
    assert ask(tg, "/webinarafgerond", user_id=STRANGER).text == msg.ADMIN_ONLY
    in_group = reply_to(tg, command(tg, "/webinarafgerond", ADMIN, chat_id=GROUP))
    assert in_group.text == msg.ADMIN_PRIVATE_ONLY
    assert ask(tg, "/webinarafgerond geen-link", user_id=ADMIN).text == msg.WEBINAR_DONE_USAGE
    before = open_questions(bot.db)
    askers = sorted({r[0] for r in before})
    assert BLOCKED in askers and PRESSER in askers and len(askers) >= 8
    for user_id in askers:  # some filed only in the group or before the start
        tg.add_chat(user_id, "private")
    tg.block_chat(BLOCKED)

    def thanks(user_id: int) -> list:
        return [m for m in tg.messages_in(user_id) if "Bedankt voor je vraag" in (m.text or "")]

    assert all(thanks(u) == [] for u in askers)
    update = command(tg, f"/webinarafgerond {RECORDING}", ADMIN)
    closed = reply_to(tg, update, text_contains="afgesloten")
    assert f"{len(before)} vragen van {len(askers)} mensen" in closed.text
    summary = tg.wait_for_message(ADMIN, text_contains="bedankjes verstuurd", timeout=60)
    assert f"{len(askers) - 1} bedankjes verstuurd, 1 overgeslagen" in summary.text
    for user_id in askers:  # one message per person, not per question
        got = thanks(user_id)
        assert len(got) == (0 if user_id == BLOCKED else 1), user_id
        assert all(RECORDING in m.text for m in got)
    assert open_questions(bot.db) == []
    with sqlite3.connect(bot.db) as conn:
        rounds = conn.execute("SELECT round, COUNT(*) FROM webinar_questions GROUP BY round")
        [(round_name, archived)] = rounds.fetchall()
    assert archived == len(before) and len(round_name) == len("2026-06-12")
    assert "geen vragen klaarstaan" in ask(tg, "/mijnvragen", user_id=OWNER).text
    assert ask(tg, "/webinarvragen", user_id=ADMIN).text == msg.WEBINAR_EXPORT_EMPTY
    assert ask(tg, "/webinarafgerond", user_id=ADMIN).text == msg.WEBINAR_DONE_EMPTY
    listing = run_cli(bot, "list")
    assert listing.returncode == 0 and "No open webinar questions" in listing.stderr
    # The closed round stays readable for the hosts.
    rounds = run_cli(bot, "rounds")
    assert rounds.returncode == 0 and rounds.stdout.split() == [round_name, str(archived), "vragen"]
    listing = run_cli(bot, "list", "--round", round_name)
    assert listing.returncode == 0, listing.stderr
    assert f"{archived} gearchiveerde vragen in" in listing.stdout
    markdown = run_cli(bot, "export", "--round", round_name)
    assert markdown.stdout.startswith(f"# Webinarvragen, ronde {round_name}\n")
    assert "Gesteld door 2 personen (2 keer)" in group_of(markdown.stdout, PARAPHRASE_A)
    missing = run_cli(bot, "export", "--round", "1999-01-01")
    assert missing.returncode == 1 and f"closed rounds: {round_name}" in missing.stderr
    # Archived questions no longer count against the limit of open ones.
    assert "op de lijst" in ask(tg, "/webinar Nog een vraag over AI?", user_id=FULL).text


def llm_stats(tg: TelegramEmulator) -> dict[str, int]:
    """The LLM counters of the admin's /stats, by key."""
    text = ask(tg, "/stats", user_id=ADMIN, timeout=20).text
    return {
        key: int(re.search(rf"{label}: ([\d.]+)", text).group(1).replace(".", ""))
        for key, label in msg.STATS_LLM_LABELS.items()
    }


def test_webinarvragen_with_an_llm_heads_groups_with_a_summary(
    sample_index: Settings, openai_stub: OpenAIStubServer, tmp_path_factory
) -> None:
    """A second bot, with the stub as its LLM: the summary request goes through the bot's
    LLM workers and its tokens show in /stats, and a failing provider leaves the
    representative wording (and adds nothing to /stats)."""
    base = tmp_path_factory.mktemp("bot-webinar-llm")
    transcripts, index = copy_corpus(sample_index, base)
    store = StateStore(base / "state" / DB_NAME).open()
    store.add_webinar_question(GPT_NL_A, GPT_NL_A, PARAPHRASE_A)
    store.add_webinar_question(GPT_NL_B, GPT_NL_B, PARAPHRASE_B)
    store.add_webinar_question(ASKER, ASKER, UNANSWERABLE)
    store.close()
    openai_stub.reset()
    openai_stub.script(summaries)
    with TelegramEmulator() as tg:
        env = bot_env(
            clean_environ(),
            tg,
            transcripts=transcripts,
            index=index,
            state=base / "state",
            admin_user_ids=ADMIN,
            openai_base_url=openai_stub.base_url,
            openai_api_key=KEY,
            llm_max_retries=0,
        )
        process = start_bot(env, tg, base / "bot.log")
        try:
            before = llm_stats(tg)
            assert before["webinar_summaries"] == before["total_tokens"] == 0
            document = export_document(tg)
            [request] = openai_stub.requests_to("/v1/chat/completions")
            assert PARAPHRASE_A in request.text and UNANSWERABLE not in request.text
            section = group_of(document, PARAPHRASE_A)
            assert section.split("\n", 1)[0] == "1. Samenvatting over GPT-NL"
            assert msg.WEBINAR_SUMMARY_NOTE in section
            sent = [m.text or "" for m in tg.messages_in(ADMIN)]
            [summary] = [t for t in sent if t.startswith("Webinarvragen")]
            assert "1. Samenvatting over GPT-NL (2 personen" in summary
            prompt = sum(count_tokens(message_text(m)) + 3 for m in request.messages)
            completion = count_tokens(summaries(request.body))  # what the stub reported
            after = llm_stats(tg)
            assert after == {
                **before,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "webinar_summaries": 1,
            }
            assert after["llm_answers"] == after["llm_fallbacks"] == 0  # not an answer

            openai_stub.reset()
            openai_stub.set_behaviour("500")
            document = export_document(tg)
            assert len(openai_stub.requests_to("/v1/chat/completions")) == 1
            heading = group_of(document, PARAPHRASE_A).split("\n", 1)[0]
            assert heading in (f"1. {PARAPHRASE_A}", f"1. {PARAPHRASE_B}")
            assert "Samenvatting over" not in document
            assert llm_stats(tg) == after  # the failed request adds nothing
        finally:
            assert process.stop() == 0, process.output()[-3000:]
            openai_stub.reset()
    assert "webinar group summaries failed" in process.output()
    assert KEY not in process.output()
