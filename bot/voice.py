"""Voice questions: a voice note (or an audio file, or a round video note) is transcribed
and answered like a typed question.

Where: in a private chat, or in a group as a reply to the bot (or with the bot mentioned in
the caption). The access rules apply first, then the note is checked without downloading
it: Telegram tells its duration (`STT_MAX_SECONDS`), size (the Bot API's 20 MB download
limit) and type. Only then is it counted against the user's question limit (before any
cost), downloaded through getFile and sent to `STT_BASE_URL`'s `/audio/transcriptions`
(any OpenAI-compatible server: OpenAI, Groq, a local whisper server) with `STT_MODEL`,
`STT_LANGUAGE` and a prompt naming the AI names of the lexicon, so "Anthropic" does not
come back as "entropic".

The request runs in the same bounded `LLMExecutor` as the LLM calls (a busy bot refuses
the note at once rather than queueing it), with its own deadline (`STT_TIMEOUT_S`, one
retry on 429/5xx/connection errors included). The transcript goes through the normal
question path (`answer_question`: follow-ups, chat memory, sources and buttons) with
"🎙️ Je vroeg: …" above the answer, so a misheard question shows; a note captioned
`/webinar`, or replying to the bot's /webinar prompt, is filed for the webinar instead.
A note sent while the bot waits for the user's comment on a 👎 (`bot.feedback`) is that
comment: its transcript is stored like a typed one, and a note that is refused or not
transcribed leaves the request open, so the user can type the comment instead.

Failures (timeout, HTTP errors, an empty or unusable transcript, a note that is too long
or of an unknown type) get a short Dutch reply and a log line with the cause, never the key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import openai
from telegram import Audio, Message, Update, VideoNote, Voice
from telegram.error import TelegramError
from telegram.ext import ContextTypes, filters
from telegram.warnings import PTBDeprecationWarning

from bot import feedback, webinar
from bot import messages as msg
from bot.answering import MAX_QUESTION_CHARS, answer_question, within_limit
from bot.formatting import clean, escape, fold, html_to_plain, shorten
from bot.guards import members_only
from bot.handlers import ADDRESSED_TO_BOT, MB, TELEGRAM_DOWNLOAD_LIMIT_MB
from bot.runtime import runtime
from bot.telegram_io import message_of, reply_html, thread_of, typing
from rag.lexicon import load_lexicon
from rag.llm import NO_KEY, Deadline, LLMExecutor, describe_error, retry_wait

if TYPE_CHECKING:
    from bot.settings import BotSettings

log = logging.getLogger(__name__)

TRANSCRIBER_KEY = "voice-transcriber"
STT_RETRIES = 1  # one retry on 429/5xx/connection errors, while the deadline allows
DEADLINE_GRACE_S = 1.0  # the worker's own timeout ends the request; this is a safety net
MAX_PROMPT_CHARS = 600  # Whisper reads at most 224 prompt tokens
MAX_HEARD_CHARS = 1200  # the "Je vroeg" line; longer transcripts are refused anyway
MIN_ECHO_CHARS = 24  # a transcript this long found in the prompt is the prompt echoed
PROMPT_LEAD = "Een vraag over de Nederlandse podcast AI Report. Namen: "

# What OpenAI's transcription endpoint accepts, by file extension.
SUPPORTED_EXTENSIONS = frozenset(
    {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "opus", "wav", "webm"}
)
MIME_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/webm": "webm",
    "video/mp4": "mp4",
    "video/webm": "webm",
}
# What Whisper writes for silence or noise in Dutch (it learnt from subtitled video).
HALLUCINATIONS_RE = re.compile(
    r"amara\.org|^\W*(?:bedankt voor het kijken|ondertiteling (?:tv gelderland|nicam)[\w ]*"
    r"|tv gelderland \d{4})\W*$",
    re.IGNORECASE,
)
WEBINAR_CAPTION_RE = re.compile(r"^/webinar(?:@(\w+))?(?:\s|$)", re.IGNORECASE)
# The first line of the bot's `/webinar` prompt (sent when /webinar came without a question).
WEBINAR_PROMPT_START = html_to_plain(msg.WEBINAR_USAGE).split("\n", 1)[0]


class _CaptionMentionsBot(filters.MessageFilter):
    """A group message whose caption mentions the bot (`@bot`, or `/webinar@bot`)."""

    __slots__ = ()

    def filter(self, message: Message) -> bool:
        username = message.get_bot().username
        if not username or not message.caption:
            return False
        return re.search(rf"@{re.escape(username)}\b", message.caption, re.IGNORECASE) is not None


AUDIO = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE
# Voice notes in private chats, or in groups as a reply to the bot (or mentioning it).
VOICE_INPUT = (
    AUDIO
    & filters.UpdateType.MESSAGE
    & (
        filters.ChatType.PRIVATE
        | (filters.ChatType.GROUPS & (ADDRESSED_TO_BOT | _CaptionMentionsBot(name="Caption")))
    )
)


@dataclass(frozen=True)
class AudioNote:
    """What the bot knows about a voice note before downloading it."""

    kind: str  # "voice", "audio" or "video_note"
    media: Voice | Audio | VideoNote
    duration: int
    size: int | None
    filename: str
    mime_type: str
    extension: str | None  # None: a type the endpoint does not take


def audio_note(message: Message) -> AudioNote | None:
    """The voice note, audio file or video note of `message`, with a file name for upload."""
    media: Voice | Audio | VideoNote
    if message.voice is not None:
        media, kind, mime, name = message.voice, "voice", message.voice.mime_type, None
    elif message.audio is not None:
        audio = message.audio
        media, kind, mime, name = audio, "audio", audio.mime_type, audio.file_name
    elif message.video_note is not None:  # Telegram sends round videos as MPEG-4
        media, kind, mime, name = message.video_note, "video_note", "video/mp4", None
    else:
        return None
    mime = (mime or ("audio/ogg" if kind == "voice" else "")).lower().split(";")[0].strip()
    extension = MIME_EXTENSIONS.get(mime)
    if extension is None and name and "." in name:
        suffix = name.rsplit(".", 1)[1].lower()
        extension = suffix if suffix in SUPPORTED_EXTENSIONS else None
    filename = f"{kind}.{extension or 'bin'}"
    return AudioNote(
        kind=kind,
        media=media,
        duration=_seconds(media),
        size=media.file_size,
        filename=filename,
        mime_type=mime or "application/octet-stream",
        extension=extension,
    )


def _seconds(media: Voice | Audio | VideoNote) -> int:
    """The duration in whole seconds: an int in PTB 22, a timedelta once PTB switches."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # announces the switch
        duration = media.duration
    if isinstance(duration, dt.timedelta):
        return int(duration.total_seconds())
    return int(duration or 0)


def refusal(note: AudioNote, max_seconds: int) -> tuple[str, str] | None:
    """(cause for the log, Dutch reply) when the note is not even downloaded, else None."""
    if note.duration > max_seconds:
        reply = msg.VOICE_TOO_LONG.format(duration=note.duration, limit=max_seconds)
        return f"{note.duration} s is over STT_MAX_SECONDS={max_seconds}", reply
    if note.size and note.size > TELEGRAM_DOWNLOAD_LIMIT_MB * MB:
        reply = msg.VOICE_TOO_LARGE.format(size=note.size / MB, limit=TELEGRAM_DOWNLOAD_LIMIT_MB)
        return f"{note.size} bytes is over the download limit", reply
    if note.extension is None:
        return f"unsupported type {note.mime_type!r}", msg.VOICE_UNSUPPORTED
    return None


def for_webinar(message: Message, bot_id: int, bot_username: str | None) -> bool:
    """A voice note for the webinar: captioned `/webinar`, or replying to the bot's
    /webinar prompt (the usage text sent for a /webinar without a question)."""
    match = WEBINAR_CAPTION_RE.match((message.caption or "").strip())
    if match is not None:
        addressed = match.group(1)
        return addressed is None or addressed.lower() == (bot_username or "").lower()
    replied = message.reply_to_message
    return (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == bot_id
        and (replied.text or "").startswith(WEBINAR_PROMPT_START)
    )


def transcription_prompt(settings: BotSettings) -> str:
    """The lexicon's names as Whisper's prompt, so they are spelled right."""
    names = [entry.name for entry in load_lexicon(settings.lexicon_file).names]
    words = [name.casefold().split() for name in names]
    text = PROMPT_LEAD
    for name, own in zip(names, words, strict=True):
        if any(_within(own, other) for other in words if other != own):
            continue  # "Karpathy" is in "Andrej Karpathy" already
        piece = f"{', ' if text != PROMPT_LEAD else ''}{name}"
        if len(text) + len(piece) + 1 > MAX_PROMPT_CHARS:
            break
        text += piece
    return text + "."


def _within(words: list[str], other: list[str]) -> bool:
    """`words` occur as a run in the longer `other`."""
    n = len(words)
    return n < len(other) and any(other[i : i + n] == words for i in range(len(other) - n + 1))


def usable(transcript: str, prompt: str) -> bool:
    """A transcript that can be a question: words, not Whisper's noise or its prompt echoed."""
    if not any(ch.isalnum() for ch in transcript):
        return False
    if HALLUCINATIONS_RE.search(transcript):
        return False
    echo = len(transcript) >= MIN_ECHO_CHARS and fold(transcript).casefold() in prompt.casefold()
    return not echo


class TranscriptionError(Exception):
    """No usable transcript: `cause` for the log (no key in it), `reply` for the user."""

    def __init__(self, cause: str, reply: str = msg.VOICE_FAILED) -> None:
        super().__init__(cause)
        self.cause = cause
        self.reply = reply


class Transcriber:
    """Sends audio to the configured OpenAI-compatible transcription endpoint."""

    def __init__(self, settings: BotSettings) -> None:
        base_url, key = settings.stt_endpoint
        self._secret = key.get_secret_value() if key else None
        self.model = settings.stt_model
        self.language = settings.stt_language
        self.timeout_s = settings.stt_timeout_s
        self.prompt = transcription_prompt(settings)
        self.client = openai.OpenAI(
            api_key=self._secret or NO_KEY,
            base_url=base_url,
            timeout=settings.stt_timeout_s,
            max_retries=0,  # retried here, within the deadline
        )

    def transcribe(self, note: AudioNote, data: bytes, deadline: Deadline) -> str:
        """The transcript (runs on a worker thread); TranscriptionError when there is none."""
        attempt = 0
        while True:
            timeout = min(self.timeout_s, deadline.remaining())
            if timeout <= 0:
                raise TranscriptionError(f"deadline of {deadline.seconds:g} s passed")
            try:
                result = self.client.audio.transcriptions.create(
                    model=self.model,
                    file=(note.filename, data, note.mime_type),
                    language=self.language,
                    prompt=self.prompt,
                    response_format="json",
                    timeout=timeout,
                )
                text = result.text if isinstance(result.text, str) else ""
                break
            # The provider call only: openai errors, httpx errors, odd payloads alike.
            except Exception as exc:
                wait = retry_wait(exc, attempt) if attempt < STT_RETRIES else None
                if wait is None or wait >= deadline.remaining():
                    raise TranscriptionError(
                        describe_error(exc, self._secret), _reply_for(exc)
                    ) from exc
                log.info("transcription failed (%s), retrying in %.2f s", type(exc).__name__, wait)
                time.sleep(wait)
                attempt += 1
        text = fold(clean(text))
        if not usable(text, self.prompt):
            raise TranscriptionError(
                f"unusable transcript {shorten(text, 80)!r}", msg.VOICE_NOT_UNDERSTOOD
            )
        return text

    async def transcribe_async(self, executor: LLMExecutor, note: AudioNote, data: bytes) -> str:
        """`transcribe` in the LLM executor, given up on after `STT_TIMEOUT_S`."""
        deadline = Deadline(self.timeout_s)
        future = executor.submit(lambda: self.transcribe(note, data, deadline))
        if future is None:
            raise TranscriptionError(f"all {executor.workers} LLM workers are busy")
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), deadline.remaining() + DEADLINE_GRACE_S
            )
        except TimeoutError:
            raise TranscriptionError(f"deadline of {deadline.seconds:g} s passed") from None
        finally:
            deadline.expire()  # a request still running stops at its own timeout


def _reply_for(exc: Exception) -> str:
    """The endpoint refused the file itself (400 about the format): say so; else a failure."""
    if isinstance(exc, openai.BadRequestError) and re.search(
        r"format|file|decode|audio", str(exc.message), re.IGNORECASE
    ):
        return msg.VOICE_UNSUPPORTED
    return msg.VOICE_FAILED


def transcriber(context: ContextTypes.DEFAULT_TYPE) -> Transcriber:
    """The bot's transcriber, made on first use."""
    found = context.bot_data.get(TRANSCRIBER_KEY)
    if found is None:
        found = context.bot_data[TRANSCRIBER_KEY] = Transcriber(runtime(context).settings)
    return found


@members_only
async def voice_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Transcribe a voice note and answer it (or file it for the webinar, or as the comment
    on the user's 👎 the bot asked for)."""
    rt = runtime(context)
    message = message_of(update)
    user = update.effective_user
    note = audio_note(message)
    if not rt.settings.stt_enabled:
        await reply_html(message, f"{msg.OTHER_INPUT}\n\n{msg.VOICE_DISABLED}")
        return
    if note is None or user is None:
        return
    refused = refusal(note, rt.settings.stt_max_seconds)
    if refused is not None:
        cause, reply = refused
        log.info("voice note (%s) from user %s refused: %s", note.kind, user.id, cause)
        rt.stats.record_voice("refused")
        await reply_html(message, reply)
        return
    if not await within_limit(rt, message):  # no await before: a burst is counted in order
        return
    to_webinar = for_webinar(message, context.bot.id, context.bot.username)
    pending = feedback.pending_comments(context.bot_data)
    # Seen before any await, like a typed comment; taken only once there is a transcript,
    # so a note that fails leaves the request open (and a newer 👎 meanwhile is not lost).
    comment_on = None if to_webinar else pending.get(message.chat_id, user.id)
    started = time.monotonic()
    sent_s = 0
    try:
        async with typing(context.bot, message.chat_id, thread_of(message)):
            try:
                data = bytes(await (await note.media.get_file()).download_as_bytearray())
            except TelegramError as exc:
                raise TranscriptionError(f"download failed: {exc.message}") from exc
            if len(data) > TELEGRAM_DOWNLOAD_LIMIT_MB * MB:  # a note that did not say its size
                raise TranscriptionError(f"{len(data)} bytes is over the download limit")
            sent_s = note.duration
            text = await transcriber(context).transcribe_async(rt.service.llm_executor, note, data)
    except TranscriptionError as exc:
        rt.stats.record_voice("failed", sent_s)
        log.warning(
            "voice note (%s, %d s) from user %s in chat %s not transcribed: %s",
            note.kind,
            note.duration,
            user.id,
            message.chat_id,
            exc.cause,
        )
        await reply_html(message, exc.reply)
        return
    rt.stats.record_voice("asked", sent_s)
    log.info(
        "transcribed voice note chat=%s kind=%s audio=%d s bytes=%d chars=%d model=%s "
        "webinar=%s comment=%s in %.0f ms",
        message.chat_id,
        note.kind,
        note.duration,
        len(data),
        len(text),
        rt.settings.stt_model,
        to_webinar,
        comment_on is not None,
        (time.monotonic() - started) * 1000,
    )
    if comment_on is not None:
        # The latest request; the one seen at first if it lapsed or was used meanwhile.
        request = pending.take(message.chat_id, user.id) or comment_on
        await feedback.file_comment(context, message, user.id, request, text)
        return
    heard = msg.VOICE_HEARD.format(question=escape(shorten(text, MAX_HEARD_CHARS)))
    if len(text) > MAX_QUESTION_CHARS:
        too_long = msg.VOICE_TRANSCRIPT_TOO_LONG.format(length=len(text), limit=MAX_QUESTION_CHARS)
        await reply_html(message, f"{heard}\n\n{too_long}")
        return
    if to_webinar:
        await webinar.file_question(update, context, text, admitted=True)
        return
    await answer_question(context, message, text, header=heard, admitted=True)
