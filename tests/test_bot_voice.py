"""Voice questions through the real bot, the Bot API emulator and the OpenAI-compatible stub.

One bot process serves the module: speech to text at the stub (`STT_BASE_URL`, its own key),
no LLM (extractive answers, so an answer can be compared with the service's), one LLM
worker (the executor transcriptions share), `STT_TIMEOUT_S` of 1.5 s and a limit of 60 s
of audio. Users outside `ALLOWED_USER_IDS` are refused. Each test asks from its own user.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import (
    BotProcess,
    ask,
    copy_corpus,
    replies,
    reply_to,
    running_bot,
    vote_down,
)
from openai_server import DEFAULT_TRANSCRIPTION_MODEL, OpenAIStubServer
from pydantic import SecretStr
from telegram import Bot, Update
from tg_emulator import DEFAULT_GROUP_ID, SentMessage, TelegramEmulator

from bot import messages as msg
from bot.answering import MAX_QUESTION_CHARS
from bot.formatting import escape, html_to_plain, shorten
from bot.handlers import MB
from bot.settings import BotSettings
from bot.voice import (
    MAX_HEARD_CHARS,
    PROMPT_LEAD,
    VOICE_INPUT,
    audio_note,
    for_webinar,
    transcription_prompt,
)
from rag.service import AnswerService, Turn
from rag.settings import Settings

pytestmark = pytest.mark.slow

KEY = "sk-stt-voice-test-do-not-log"
ADMIN = 5000
USERS = range(5001, 5040)
OUTSIDER = 6666
TRANSCRIPTIONS = "/v1/audio/transcriptions"
FIXTURES = Path(__file__).parent / "fixtures"
VOICE = (FIXTURES / "voice.ogg").read_bytes()
ROOT = Path(__file__).resolve().parent.parent
GROQ = "Wat zei Rick Lamers over Groq?"
FOLLOW_UP = "en wat vindt hij van Europa?"
TIMEOUT_S = 1.5
MAX_SECONDS = 60


@pytest.fixture(scope="module")
def bot(
    tg: TelegramEmulator, openai_stub: OpenAIStubServer, sample_index: Settings, tmp_path_factory
) -> Iterator[BotProcess]:
    base: Path = tmp_path_factory.mktemp("bot-voice")
    transcripts, index = copy_corpus(sample_index, base)
    with running_bot(
        tg,
        base / "bot.log",
        transcripts=transcripts,
        index=index,
        state=base / "state",
        admin_user_ids=ADMIN,
        allowed_user_ids=",".join(str(u) for u in USERS),
        stt_base_url=openai_stub.base_url,
        stt_api_key=KEY,
        stt_timeout_s=TIMEOUT_S,
        stt_max_seconds=MAX_SECONDS,
        llm_workers=1,
        log_level="DEBUG",
    ) as process:
        yield process
    output = process.output()
    assert KEY not in output and tg.token not in output
    assert "Traceback" not in output


@pytest.fixture
def stt(
    openai_stub: OpenAIStubServer, bot: BotProcess, tg: TelegramEmulator
) -> Iterator[OpenAIStubServer]:
    """The stub, reset; afterwards every message the bot sent was valid HTML."""
    openai_stub.reset()
    yield openai_stub
    tg.assert_no_rejections()
    assert openai_stub.errors == []


def voice(tg: TelegramEmulator, user: int, **kwargs) -> dict:
    return tg.inject_voice(VOICE, user_id=user, **kwargs)


def heard(question: str) -> str:
    """The "Je vroeg" line as the user sees it."""
    return html_to_plain(msg.VOICE_HEARD.format(question=escape(question)))


def without_header(message: SentMessage) -> str:
    """The answer under the "Je vroeg" line."""
    return (message.text or "").split("\n\n", 1)[1]


def first_excerpt(text: str) -> str:
    """The best-ranked passage of an extractive answer (see tests/test_bot_e2e.py)."""
    return text.split("\n\nBronnen\n")[0].splitlines()[1]


def downloads(tg: TelegramEmulator) -> int:
    return tg.call_count("getFile") + tg.call_count("fileDownload")


# ------------------------------------------------------------------------------ answers


def test_a_voice_note_is_transcribed_and_answered_with_sources(
    tg: TelegramEmulator, stt: OpenAIStubServer, service: AnswerService
) -> None:
    stt.script_transcripts([GROQ])
    user = USERS[0]
    reply = reply_to(tg, voice(tg, user, duration=4))

    [request] = stt.requests_to(TRANSCRIPTIONS)
    assert request.files["file"].content == VOICE
    assert request.files["file"].filename == "voice.ogg"
    assert request.body["model"] == DEFAULT_TRANSCRIPTION_MODEL
    assert request.body["language"] == "nl"
    prompt = request.body["prompt"]
    assert prompt.startswith(PROMPT_LEAD) and "Anthropic" in prompt and "NotebookLM" in prompt
    assert prompt == transcription_prompt(BotSettings(_env_file=None))

    assert reply.parse_mode == "HTML"
    assert reply.text.startswith(heard(GROQ) + "\n\n")
    # The transcript drove the search: the answer is the one to the typed question.
    assert first_excerpt(without_header(reply)) == first_excerpt(service.ask(GROQ).text)
    assert "\n\nBronnen\n[1]" in reply.text
    assert reply.buttons[0]["text"] == msg.SOURCES_BUTTON
    assert any(a.action == "typing" for a in tg.chat_actions(user))


def test_a_voice_follow_up_uses_the_chat_memory(
    tg: TelegramEmulator, stt: OpenAIStubServer, service: AnswerService
) -> None:
    first = service.ask(GROQ)
    remembered = first_excerpt(service.ask(FOLLOW_UP, [Turn(GROQ, first.text)]).text)
    assert remembered != first_excerpt(service.ask(FOLLOW_UP).text)  # else this proves nothing
    user = USERS[1]
    ask(tg, GROQ, user_id=user)
    stt.script_transcripts([FOLLOW_UP])
    reply = reply_to(tg, voice(tg, user))
    assert reply.text.startswith(heard(FOLLOW_UP))
    assert first_excerpt(without_header(reply)) == remembered


def test_the_transcript_is_escaped(tg: TelegramEmulator, stt: OpenAIStubServer) -> None:
    tricky = "Wat is <b>Groq</b> & wat zei Rick Lamers <i>erover</i>?"
    stt.script_transcripts([tricky])
    reply = reply_to(tg, voice(tg, USERS[2]))
    assert reply.text.startswith(heard(tricky))
    assert "<b>Groq</b> & wat" in reply.text  # shown as typed, not as markup
    italic = [e for e in reply.entities if e["type"] == "italic"]
    assert italic and italic[0]["offset"] == len("🎙️ Je vroeg: ".encode("utf-16-le")) // 2


MP3 = b"ID3\x04\x00 an mp3 file"
ROUND = b"\x00\x00\x00\x18ftypmp42 a round video"


@pytest.mark.parametrize(
    ("send", "content", "filename", "mime"),
    [
        (lambda tg, u: tg.inject_audio(MP3, user_id=u), MP3, "audio.mp3", "audio/mpeg"),
        (
            lambda tg, u: tg.inject_video_note(ROUND, user_id=u),
            ROUND,
            "video_note.mp4",
            "video/mp4",
        ),
    ],
    ids=["audio-file", "video-note"],
)
def test_audio_files_and_video_notes_are_answered_too(
    tg: TelegramEmulator, stt: OpenAIStubServer, send, content: bytes, filename: str, mime: str
) -> None:
    stt.script_transcripts([GROQ])
    reply = reply_to(tg, send(tg, USERS[3] if content == MP3 else USERS[4]))
    assert reply.text.startswith(heard(GROQ))
    [request] = stt.requests_to(TRANSCRIPTIONS)
    upload = request.files["file"]
    assert (upload.filename, upload.content_type, upload.content) == (filename, mime, content)


def test_in_a_group_only_a_reply_to_the_bot_is_transcribed(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    group, user = DEFAULT_GROUP_ID - 7, USERS[5]
    answer = reply_to(
        tg, tg.inject_group_message(GROQ, chat_id=group, user_id=user, mention_bot=True)
    )
    chatter = voice(tg, user, chat_id=group, chat_type="supergroup")
    stt.script_transcripts([GROQ])
    reply = reply_to(tg, voice(tg, user, chat_id=group, reply_to_message_id=answer.message_id))
    assert reply.text.startswith(heard(GROQ))
    time.sleep(0.5)  # a chance for the bot to (wrongly) answer the chatter
    assert len(stt.requests_to(TRANSCRIPTIONS)) == 1
    replied = {m.reply_to_message_id for m in tg.messages_in(group)}
    assert chatter["message"]["message_id"] not in replied


def test_a_long_transcript_is_shown_and_not_searched(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    rambling = "Ik wil graag weten wat Rick Lamers vertelde over Groq en chips. " * 20
    stt.script_transcripts([rambling])
    reply = reply_to(tg, voice(tg, USERS[6], duration=55))
    assert len(rambling.strip()) > MAX_HEARD_CHARS  # shown shortened, whole it is too long
    assert reply.text.startswith(heard(shorten(rambling.strip(), MAX_HEARD_CHARS)))
    assert (
        html_to_plain(
            msg.VOICE_TRANSCRIPT_TOO_LONG.format(length=len(rambling.strip()), limit=1000)
        )
        in reply.text
    )
    assert not reply.buttons  # no answer, so no answer buttons


# ------------------------------------------------------------------------------ webinar


def test_a_voice_note_captioned_webinar_is_filed(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    question = "Komt er een aflevering over robots in de zorg?"
    stt.script_transcripts([question])
    user = USERS[7]
    reply = reply_to(tg, voice(tg, user, caption="/webinar"))
    assert reply.text.startswith(html_to_plain(msg.WEBINAR_FILED.format(question=question)))
    mine = ask(tg, "/mijnvragen", user_id=user)
    assert question in mine.text


def test_a_voice_reply_to_the_webinar_prompt_is_filed(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    question = "Hoe gebruiken jullie zelf AI bij het maken van de podcast?"
    user = USERS[8]
    prompt = ask(tg, "/webinar", user_id=user)
    assert prompt.text.startswith("Vragen voor het webinar")
    stt.script_transcripts([question])
    reply = reply_to(tg, voice(tg, user, reply_to_message_id=prompt.message_id))
    assert reply.text.startswith(html_to_plain(msg.WEBINAR_FILED.format(question=question)))
    # A voice note replying to an ordinary answer is a question, not a webinar question.
    stt.script_transcripts([GROQ])
    answer = reply_to(tg, voice(tg, user, reply_to_message_id=reply.message_id))
    assert answer.text.startswith(heard(GROQ))


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"duration": MAX_SECONDS + 1},
            msg.VOICE_TOO_LONG.format(duration=MAX_SECONDS + 1, limit=MAX_SECONDS),
        ),
        ({"file_size": 21 * MB}, msg.VOICE_TOO_LARGE.format(size=21.0, limit=20)),
        ({"mime_type": "audio/amr"}, msg.VOICE_UNSUPPORTED),
    ],
    ids=["too-long", "too-large", "unsupported"],
)
def test_a_note_it_cannot_take_is_refused_before_any_download(
    tg: TelegramEmulator, stt: OpenAIStubServer, kwargs: dict, expected: str
) -> None:
    before = downloads(tg)
    reply = reply_to(tg, voice(tg, USERS[9], **kwargs))
    assert reply.text == html_to_plain(expected)
    assert downloads(tg) == before
    assert stt.requests_to(TRANSCRIPTIONS) == []


def test_an_audio_file_of_an_unknown_type_is_refused(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    before = downloads(tg)
    update = tg.inject_audio(b"amr", file_name="memo.amr", mime_type="audio/amr", user_id=USERS[10])
    assert reply_to(tg, update).text == msg.VOICE_UNSUPPORTED
    assert downloads(tg) == before and stt.requests_to(TRANSCRIPTIONS) == []


def test_someone_not_allowed_is_refused_before_any_download(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    before = downloads(tg)
    reply = reply_to(tg, voice(tg, OUTSIDER))
    assert reply.text == msg.NOT_ALLOWED
    assert downloads(tg) == before and stt.requests_to(TRANSCRIPTIONS) == []


def test_voice_notes_count_against_the_question_limit_before_transcription(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    user = USERS[11]
    stt.script_transcripts(lambda fields, files: GROQ)
    before = tg.call_count("getFile")
    updates = [voice(tg, user) for _ in range(5)]  # the burst is 4
    replies = [reply_to(tg, u, timeout=30).text for u in updates]
    limited = [r for r in replies if r.startswith("Je stelt veel vragen kort na elkaar")]
    assert len(limited) == 1
    # The one over the limit was not even downloaded. (Of the other four, those that found
    # the one LLM worker busy were refused; see test_a_busy_executor_refuses_at_once.)
    assert tg.call_count("getFile") - before == 4
    answered = [r for r in replies if r.startswith(heard(GROQ))]
    assert len(answered) == len(stt.requests_to(TRANSCRIPTIONS)) >= 1


# ------------------------------------------------------------------------------ failures


def test_an_empty_or_unusable_transcript_asks_to_type(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    stt.script_transcripts(["", "  ...  ", "Ondertiteld door de Amara.org gemeenschap"])
    for n in range(3):
        reply = reply_to(tg, voice(tg, USERS[12] + n))
        assert reply.text == msg.VOICE_NOT_UNDERSTOOD
    assert "unusable transcript" in bot.output()


def test_a_server_error_is_retried_once_then_explained(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    stt.set_behaviour("500")
    start = len(bot.output())
    reply = reply_to(tg, voice(tg, USERS[15]))
    assert reply.text == html_to_plain(msg.VOICE_FAILED)
    assert [r.status for r in stt.requests_to(TRANSCRIPTIONS)] == [500, 500]
    logged = bot.wait_for_output("not transcribed", start)
    assert "InternalServerError" in logged and "Traceback" not in logged
    # It recovers: the next voice note is answered.
    stt.set_behaviour("script")
    stt.script_transcripts([GROQ])
    assert reply_to(tg, voice(tg, USERS[15])).text.startswith(heard(GROQ))


def test_a_4xx_is_explained_without_a_retry(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    stt.fail_next(401)
    reply = reply_to(tg, voice(tg, USERS[16]))
    assert reply.text == html_to_plain(msg.VOICE_FAILED)
    assert [r.status for r in stt.requests_to(TRANSCRIPTIONS)] == [401]
    assert KEY not in bot.output()


def test_a_failed_download_is_explained(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    tg.fail_next("getFile", error_code=400, description="Bad Request: file is too big")
    start = len(bot.output())
    reply = reply_to(tg, voice(tg, USERS[21]))
    assert reply.text == html_to_plain(msg.VOICE_FAILED)
    assert stt.requests_to(TRANSCRIPTIONS) == []
    assert "download failed: File is too big" in bot.wait_for_output("not transcribed", start)


def test_a_slow_server_runs_into_the_deadline(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    stt.set_behaviour("slow", delay=5.0)
    start = len(bot.output())
    started = time.monotonic()
    reply = reply_to(tg, voice(tg, USERS[17]))
    assert reply.text == html_to_plain(msg.VOICE_FAILED)
    assert time.monotonic() - started < TIMEOUT_S + 2.5
    logged = bot.wait_for_output("not transcribed", start)
    assert re.search(r"Timeout|timed out|deadline", logged)


def test_a_busy_executor_refuses_at_once(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    """Transcriptions share the bounded LLM executor (one worker here): no queueing."""
    stt.set_behaviour("slow", delay=1.0)
    slow = voice(tg, USERS[18])
    tg.wait_for(lambda: stt.requests_to(TRANSCRIPTIONS), timeout=10, description="a request")
    started = time.monotonic()
    busy = reply_to(tg, voice(tg, USERS[19]))
    assert busy.text == html_to_plain(msg.VOICE_FAILED)
    assert time.monotonic() - started < 1.0
    assert len(stt.requests_to(TRANSCRIPTIONS)) == 1
    assert "LLM workers are busy" in bot.output()
    assert reply_to(tg, slow).text.startswith(heard(stt.default_transcript))


# ------------------------------------------------------------------- the comment after a 👎

COMMENT = "Het ging me om de chips van Groq, niet om de chatbot <Grok> & co."


def comment_line(question: str, comment: str) -> str:
    """A comment as /opmerkingen shows it to an admin."""
    return f"vraag: {question}\n{comment}"


def test_a_voice_note_after_a_thumbs_down_is_the_comment(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    user = USERS[22]
    answer = ask(tg, GROQ, user_id=user)
    prompt = vote_down(tg, answer, user)
    stt.script_transcripts([COMMENT])
    update = voice(tg, user, duration=6)
    assert reply_to(tg, update).text == msg.FEEDBACK_COMMENT_SAVED
    [request] = stt.requests_to(TRANSCRIPTIONS)  # the same speech to text as a question
    assert request.files["file"].content == VOICE
    tg.wait_for(
        lambda: tg.get_message(user, prompt.message_id).callback_data == [],
        timeout=30,
        description="the Overslaan button removed",
    )
    assert comment_line(GROQ, COMMENT) in ask(tg, "/opmerkingen", user_id=ADMIN).text

    # The request is used up: the next voice note is a question again.
    stt.script_transcripts([GROQ])
    assert reply_to(tg, voice(tg, user)).text.startswith(heard(GROQ))
    assert [m.text for m in replies(tg, update)] == [
        msg.FEEDBACK_COMMENT_SAVED
    ]  # the comment was not answered


def test_a_voice_comment_that_fails_leaves_the_request_for_a_typed_one(
    tg: TelegramEmulator, stt: OpenAIStubServer
) -> None:
    user = USERS[23]
    answer = ask(tg, GROQ, user_id=user)
    vote_down(tg, answer, user)
    too_long = reply_to(tg, voice(tg, user, duration=MAX_SECONDS + 1))
    assert too_long.text == html_to_plain(
        msg.VOICE_TOO_LONG.format(duration=MAX_SECONDS + 1, limit=MAX_SECONDS)
    )
    stt.fail_next(401)
    assert reply_to(tg, voice(tg, user)).text == html_to_plain(msg.VOICE_FAILED)
    rambling = "Dit klopt niet want " + "x" * MAX_QUESTION_CHARS
    stt.script_transcripts(["", rambling])
    assert reply_to(tg, voice(tg, user)).text == msg.VOICE_NOT_UNDERSTOOD
    assert reply_to(tg, voice(tg, user)).text == html_to_plain(
        msg.FEEDBACK_COMMENT_TOO_LONG.format(length=len(rambling), limit=MAX_QUESTION_CHARS)
    )
    typed = "Ik bedoelde de chips, niet de chatbot."
    assert ask(tg, typed, user_id=user).text == msg.FEEDBACK_COMMENT_SAVED
    listing = ask(tg, "/opmerkingen", user_id=ADMIN).text
    assert comment_line(GROQ, typed) in listing and "x" * 100 not in listing


# ------------------------------------------------------------------------------ /stats


def stats_numbers(tg: TelegramEmulator) -> tuple[int, int, int, int]:
    text = ask(tg, "/stats", user_id=ADMIN).text
    match = re.search(
        r"Spraakvragen: (\d+) · niet verstaan of mislukt: (\d+) · "
        r"te lang of onbekend formaat: (\d+) · audio: ([\d.]+) s",
        text,
    )
    assert match, text
    return tuple(int(g.replace(".", "")) for g in match.groups())  # type: ignore[return-value]


def test_stats_count_voice_questions_failures_and_seconds(
    tg: TelegramEmulator, stt: OpenAIStubServer, bot: BotProcess
) -> None:
    asked, failed, refused, seconds = stats_numbers(tg)
    user = USERS[20]
    stt.script_transcripts([GROQ, ""])
    start = len(bot.output())
    reply_to(tg, voice(tg, user, duration=7))
    reply_to(tg, voice(tg, user, duration=5))
    reply_to(tg, voice(tg, user, duration=MAX_SECONDS + 30))
    assert stats_numbers(tg) == (asked + 1, failed + 1, refused + 1, seconds + 12)
    logged = bot.wait_for_output("transcribed voice note", start)
    assert re.search(r"transcribed voice note chat=\d+ kind=voice audio=7 s", logged)


# ------------------------------------------------------------------- settings and filters


def test_the_endpoint_defaults_to_the_llms_and_is_never_mixed() -> None:
    llm = {"openai_base_url": "https://api.groq.com/openai/v1", "openai_api_key": "gsk_llm"}
    inherited = BotSettings(_env_file=None, **llm)
    assert inherited.stt_enabled and inherited.stt_endpoint[0] == llm["openai_base_url"]
    assert inherited.stt_endpoint[1].get_secret_value() == "gsk_llm"
    assert (inherited.stt_model, inherited.stt_language, inherited.stt_max_seconds) == (
        "whisper-1",
        "nl",
        120,
    )
    # A key of its own (OpenAI's Whisper next to an LLM elsewhere): the LLM's URL is not used.
    own = BotSettings(_env_file=None, stt_api_key="sk-openai", **llm)
    assert own.stt_endpoint == (None, SecretStr("sk-openai"))
    assert not BotSettings(_env_file=None).stt_enabled
    assert not BotSettings(_env_file=None, stt_model="", **llm).stt_enabled
    assert BotSettings(_env_file=None, stt_base_url="http://localhost:8000/v1").stt_enabled
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for line in ("STT_BASE_URL=", "STT_API_KEY=", "STT_MODEL=whisper-1", "STT_LANGUAGE=nl"):
        assert f"\n{line}\n" in example
    assert "\nSTT_MAX_SECONDS=120\n" in example and "\nSTT_TIMEOUT_S=30\n" in example


async def test_which_voice_notes_the_bot_takes(emulator: TelegramEmulator, client: Bot) -> None:
    def update(raw: dict) -> Update:
        return Update.de_json(raw, client)

    emulator.inject_group_message("hallo")  # the group exists once someone wrote in it
    sent = await client.send_message(DEFAULT_GROUP_ID, "Een antwoord")
    group = {"chat_id": DEFAULT_GROUP_ID}
    assert VOICE_INPUT.check_update(update(emulator.inject_voice()))
    assert VOICE_INPUT.check_update(update(emulator.inject_audio()))
    assert VOICE_INPUT.check_update(update(emulator.inject_video_note()))
    assert not VOICE_INPUT.check_update(update(emulator.inject_voice(**group)))  # chatter
    reply = emulator.inject_voice(reply_to_message_id=sent.message_id, **group)
    assert VOICE_INPUT.check_update(update(reply))
    mention = emulator.inject_voice(caption=f"/webinar@{emulator.bot_username}", **group)
    assert VOICE_INPUT.check_update(update(mention))
    other = emulator.inject_voice(caption=f"@{emulator.bot_username}je hoi", **group)
    assert not VOICE_INPUT.check_update(update(other))  # another bot's name
    assert not VOICE_INPUT.check_update(update(emulator.inject_sticker()))

    def webinar(raw: dict) -> bool:
        return for_webinar(update(raw).message, client.id, client.username)

    assert webinar(mention)
    assert webinar(emulator.inject_voice(caption="/WEBINAR"))
    assert not webinar(emulator.inject_voice(caption="/webinar@een_andere_bot", **group))
    assert not webinar(emulator.inject_voice(caption="webinar"))
    assert not webinar(reply)  # a reply to an answer is a question


async def test_what_is_sent_for_each_kind(emulator: TelegramEmulator, client: Bot) -> None:
    def note(raw: dict):
        return audio_note(Update.de_json(raw, client).message)

    voice_note = note(emulator.inject_voice(duration=9))
    assert (voice_note.kind, voice_note.filename, voice_note.mime_type) == (
        "voice",
        "voice.ogg",
        "audio/ogg",
    )
    assert voice_note.duration == 9
    by_name = note(emulator.inject_audio(file_name="vraag.m4a", mime_type="application/x-foo"))
    assert by_name.filename == "audio.m4a"
    assert note(emulator.inject_audio(file_name="vraag.aac")).extension is None


def test_the_fixture_is_a_valid_ogg_opus_stream() -> None:
    """Page by page: capture pattern, CRC, BOS/EOS flags; OpusHead and OpusTags first."""
    import sys

    sys.path.insert(0, str(FIXTURES))
    try:
        from make_voice_ogg import ogg_crc, voice_ogg
    finally:
        sys.path.remove(str(FIXTURES))
    assert voice_ogg() == VOICE  # the shipped file is what the script writes
    pages, offset = [], 0
    while offset < len(VOICE):
        assert VOICE[offset : offset + 4] == b"OggS"
        flags, granule, _serial, sequence, crc, count = struct.unpack_from(
            "<BqIIIB", VOICE, offset + 5
        )
        lacing = VOICE[offset + 27 : offset + 27 + count]
        end = offset + 27 + count + sum(lacing)
        page = VOICE[offset:end]
        assert ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == crc
        pages.append((flags, granule, sequence, page[27 + count :]))
        offset = end
    assert [p[0] for p in pages] == [0x02, 0, 0x04]
    assert [p[2] for p in pages] == [0, 1, 2]
    assert pages[0][3].startswith(b"OpusHead\x01\x01") and pages[1][3].startswith(b"OpusTags")
    assert pages[2][1] == 312 + 48000  # pre-skip plus one second at 48 kHz
