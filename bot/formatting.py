"""Telegram HTML for answers, sources and reports: everything escaped, split under 4096."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from bot import messages as msg
from rag.messages_nl import skip_reason
from rag.transcripts import where_note

if TYPE_CHECKING:
    from bot.stats import StatsSnapshot
    from rag.index import IndexReport

MAX_MESSAGE = MessageLimit.MAX_TEXT_LENGTH  # 4096, counted in UTF-16 code units
MAX_TITLE = 200
MAX_QUOTE = 1200
EPISODES_PER_PAGE = 10

# Callback data: short prefixes keep every button far below Telegram's 64-byte limit.
SOURCES_CALLBACK = "src:"
EPISODES_CALLBACK = "eps:"
FEEDBACK_CALLBACK = "fb:"
WEBINAR_FILE_CALLBACK = "wbq:"
SOURCES_PATTERN = rf"^{SOURCES_CALLBACK}\d{{1,19}}$"
EPISODES_PATTERN = rf"^{EPISODES_CALLBACK}\d{{1,6}}$"
FEEDBACK_PATTERN = rf"^{FEEDBACK_CALLBACK}\d{{1,19}}:[ud]$"
WEBINAR_FILE_PATTERN = rf"^{WEBINAR_FILE_CALLBACK}\d{{1,19}}$"
# Answers whose question the hosts may take up: the archive had no sure answer.
WEBINAR_BUTTON_VERDICTS = frozenset({"unsure", "not_found"})

# Coarsest boundary first: paragraphs, lines, words; a hard cut only as the last resort.
SEPARATORS = ("\n\n", "\n", " ")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TAG_RE = re.compile(r"<[^>]*>")


class SourceLike(Protocol):
    """What the bot shows of a citation (a `rag.answer.Citation` or a stored one)."""

    @property
    def n(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def start_time(self) -> float | None: ...
    @property
    def quote(self) -> str: ...
    @property
    def position(self) -> float | None: ...


def clean(text: str) -> str:
    """Drop control characters (null bytes and the like) Telegram would choke on."""
    return CONTROL_RE.sub("", text)


def escape(text: str) -> str:
    """Escape text for Telegram's HTML parse mode."""
    return html.escape(clean(text), quote=False)


def fold(text: str) -> str:
    """Collapse all whitespace (captions come with line breaks and double spaces)."""
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def size(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units); raw HTML is never shorter."""
    return len(text.encode("utf-16-le")) // 2


def link(title: str, url: str | None) -> str:
    """An escaped title, as a link when the URL is http(s)."""
    label = escape(shorten(fold(title), MAX_TITLE))
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(clean(url), quote=True)}">{label}</a>'
    return label


def html_to_plain(text: str) -> str:
    """Plain-text fallback of HTML this module produced (tags dropped, entities decoded)."""
    return html.unescape(TAG_RE.sub("", text))


def split_text(text: str, limit: int = MAX_MESSAGE, level: int = 0) -> list[str]:
    """Escape plain text into HTML pieces of at most `limit`, cut at the coarsest boundary."""
    escaped = escape(text)
    if size(escaped) <= limit:
        return [escaped] if escaped.strip() else []
    if level == len(SEPARATORS):
        return _hard_cut(text, limit)
    sep = SEPARATORS[level]
    pieces: list[str] = []
    current = ""
    for part in text.split(sep):
        part_html = escape(part)
        if size(part_html) > limit:
            pieces.append(current)
            *done, current = split_text(part, limit, level + 1) or [""]
            pieces.extend(done)
        elif current and size(current) + size(sep) + size(part_html) <= limit:
            current = f"{current}{sep}{part_html}"
        else:
            pieces.append(current)
            current = part_html
    pieces.append(current)
    return [p for p in pieces if p.strip()]


def _hard_cut(text: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for char in text:
        char_html = escape(char)
        if size(current) + size(char_html) > limit:
            pieces.append(current)
            current = ""
        current += char_html
    pieces.append(current)
    return [p for p in pieces if p.strip()]


def pack(blocks: Iterable[str], limit: int = MAX_MESSAGE, sep: str = "\n\n") -> list[str]:
    """Join ready HTML blocks (each within `limit`) into as few messages as fit."""
    messages: list[str] = []
    for block in blocks:
        if not block.strip():
            continue
        if messages and size(messages[-1]) + size(sep) + size(block) <= limit:
            messages[-1] = f"{messages[-1]}{sep}{block}"
        else:
            messages.append(block)
    return messages


def source_lines(citations: Sequence[SourceLike]) -> list[str]:
    """`[1] [2] Title (rond 12:34)`: one line per distinct episode moment."""
    grouped: dict[tuple[str, str | None, str], list[int]] = {}
    for c in citations:
        grouped.setdefault((c.title, c.url, where_note(c.start_time, c.position)), []).append(c.n)
    return [
        msg.SOURCE_LINE.format(
            n="][".join(str(n) for n in numbers), title=link(title, url), moment=moment
        )
        for (title, url, moment), numbers in grouped.items()
    ]


def render_answer(
    text: str,
    citations: Sequence[SourceLike],
    note: str | None = None,
    header: str | None = None,
) -> list[str]:
    """The answer with its `[n]` markers, an optional note, then the compact source list;
    `header` (ready HTML, well under the limit) goes first, e.g. what a voice note asked."""
    blocks = [header] if header else []
    blocks += split_text(text)
    if note:
        blocks += [f"<i>{piece}</i>" for piece in split_text(note, MAX_MESSAGE - 7)]
    if citations:
        sources = pack([msg.SOURCES_HEADING, *source_lines(citations)], sep="\n")
        blocks += sources
    return pack(blocks)


def render_quotes(question: str, citations: Sequence[SourceLike]) -> list[str]:
    """The verbatim quotes behind an answer, one block per `[n]`."""
    heading = msg.QUOTES_HEADING.format(question=escape(shorten(fold(question), 300)))
    blocks = [heading]
    for c in citations:
        blocks.append(
            msg.QUOTE_BLOCK.format(
                n=c.n,
                title=link(c.title, c.url),
                moment=where_note(c.start_time, c.position),
                quote=escape(shorten(fold(c.quote), MAX_QUOTE)),
            )
        )
    return pack(blocks)


@dataclass(frozen=True)
class EpisodeLine:
    title: str
    url: str | None


def render_episodes(
    episodes: Sequence[EpisodeLine], page: int, per_page: int = EPISODES_PER_PAGE
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the episode list, with previous/next buttons when there is more."""
    if not episodes:
        return msg.NO_EPISODES, None
    pages = (len(episodes) + per_page - 1) // per_page
    page = min(max(page, 0), pages - 1)
    first = page * per_page
    lines = [msg.EPISODES_HEADING.format(count=len(episodes))]
    lines += [
        msg.EPISODE_LINE.format(n=first + i + 1, title=link(e.title, e.url))
        for i, e in enumerate(episodes[first : first + per_page])
    ]
    if pages == 1:
        return "\n".join(lines), None
    lines.append(msg.EPISODES_PAGE.format(page=page + 1, pages=pages))
    buttons = []
    if page > 0:
        buttons.append(
            InlineKeyboardButton(msg.PREVIOUS, callback_data=f"{EPISODES_CALLBACK}{page - 1}")
        )
    if page < pages - 1:
        buttons.append(
            InlineKeyboardButton(msg.NEXT, callback_data=f"{EPISODES_CALLBACK}{page + 1}")
        )
    return "\n".join(lines), InlineKeyboardMarkup([buttons])


def sources_keyboard(answer_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(msg.SOURCES_BUTTON, callback_data=f"{SOURCES_CALLBACK}{answer_id}")]]
    )


def answer_keyboard(answer_id: int, *, sources: bool, verdict: str | None) -> InlineKeyboardMarkup:
    """The buttons under an answer: Bronnen when it cites, "Stel deze vraag in het webinar"
    when the archive's verdict is unsure or not found, and 👍 / 👎 always."""
    rows = []
    if sources:
        data = f"{SOURCES_CALLBACK}{answer_id}"
        rows.append([InlineKeyboardButton(msg.SOURCES_BUTTON, callback_data=data)])
    if verdict in WEBINAR_BUTTON_VERDICTS:
        data = f"{WEBINAR_FILE_CALLBACK}{answer_id}"
        rows.append([InlineKeyboardButton(msg.WEBINAR_FILE_BUTTON, callback_data=data)])
    rows.append(
        [
            InlineKeyboardButton(msg.FEEDBACK_UP_BUTTON, callback_data=f"fb:{answer_id}:u"),
            InlineKeyboardButton(msg.FEEDBACK_DOWN_BUTTON, callback_data=f"fb:{answer_id}:d"),
        ]
    )
    return InlineKeyboardMarkup(rows)


def render_report(report: IndexReport) -> list[str]:
    """The admin's `/reindex` summary: counts, then the files per kind, skipped with reasons."""
    if not report.swapped:
        head = msg.REINDEX_UP_TO_DATE.format(
            episodes=report.episodes, chunks=report.chunks, seconds=report.seconds
        )
    else:
        head = msg.REINDEX_DONE.format(
            kind=msg.REINDEX_KIND_FULL if report.full_rebuild else msg.REINDEX_KIND_INCREMENTAL,
            seconds=report.seconds,
            added=len(report.added),
            updated=len(report.updated),
            removed=len(report.removed),
            skipped=len(report.skipped),
            episodes=report.episodes,
            chunks=report.chunks,
        )
    blocks = [head]
    for label, names in (
        ("added", report.added),
        ("updated", report.updated),
        ("removed", report.removed),
    ):
        if names:
            lines = [msg.REINDEX_FILE.format(name=escape(shorten(n, MAX_TITLE))) for n in names]
            blocks += pack(
                [msg.REINDEX_LABEL.format(label=msg.REINDEX_LABELS[label]), *lines], sep="\n"
            )
    if report.skipped:
        lines = [
            msg.REINDEX_SKIPPED_FILE.format(
                name=escape(shorten(s.source_file, MAX_TITLE)),
                reason=escape(skip_reason(s.code, s.detail)),
            )
            for s in report.skipped
        ]
        blocks += pack(
            [msg.REINDEX_LABEL.format(label=msg.REINDEX_LABELS["skipped"]), *lines], sep="\n"
        )
    return pack(blocks)


def format_ms(value: float | None) -> str:
    if value is None:
        return msg.NOT_AVAILABLE
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def format_uptime(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} u"
    return f"{hours} u {minutes} min" if hours else f"{minutes} min"


def format_count(value: int) -> str:
    """A count with Dutch thousands separators: 12.345."""
    return f"{value:,}".replace(",", ".")


def render_stats(
    snapshot: StatsSnapshot,
    episodes: int,
    chunks: int,
    usage: Mapping[str, int] | None = None,
    model: str | None = None,
    feedback: tuple[tuple[int, int], tuple[int, int]] | None = None,
    voice: bool = False,
    reranker: tuple[int, int] | None = None,
) -> str:
    """The admin's `/stats`; with `usage` (LLM enabled) also token totals and fallbacks;
    with `feedback` ((👍, 👎) all time, then since the start) a Feedback line; with `voice`
    (speech to text configured) or any voice note since the start a Spraakvragen line;
    with `reranker` (requests, failed ones; one configured) a Reranker line."""
    rate = (
        f"{snapshot.not_found / snapshot.questions:.0%}"
        if snapshot.questions
        else msg.NOT_AVAILABLE
    )
    text = msg.STATS.format(
        uptime=format_uptime(snapshot.uptime_s),
        episodes=episodes,
        chunks=chunks,
        questions=snapshot.questions,
        not_found=snapshot.not_found,
        not_found_rate=rate,
        p50=format_ms(snapshot.p50_ms),
        p95=format_ms(snapshot.p95_ms),
    )
    if feedback is not None:
        (up, down), (up_start, down_start) = feedback
        text += msg.STATS_FEEDBACK.format(
            up=up,
            down=down,
            share=_share(up, down),
            up_start=up_start,
            down_start=down_start,
            share_start=_share(up_start, down_start),
        )
    voice_notes = snapshot.voice_questions + snapshot.voice_failures + snapshot.voice_refused
    if voice or voice_notes:
        text += msg.STATS_VOICE.format(
            questions=snapshot.voice_questions,
            failures=snapshot.voice_failures,
            refused=snapshot.voice_refused,
            seconds=format_count(snapshot.voice_seconds),
        )
    if reranker is not None:
        requests, failures = reranker
        text += msg.STATS_RERANKER.format(
            requests=format_count(requests), failures=format_count(failures)
        )
    if usage is not None:
        text += _render_llm_usage(usage, model)
    return text


def _share(up: int, down: int) -> str:
    if not up + down:
        return msg.STATS_FEEDBACK_NONE
    return msg.STATS_FEEDBACK_SHARE.format(percent=up / (up + down))


def _render_llm_usage(usage: Mapping[str, int], model: str | None) -> str:
    lines = [msg.STATS_LLM_HEADING.format(name=escape(model or msg.NOT_AVAILABLE))]
    lines += [
        msg.STATS_LLM_LINE.format(label=label, count=format_count(usage.get(key, 0)))
        for key, label in msg.STATS_LLM_LABELS.items()
    ]
    return "\n".join(lines)
