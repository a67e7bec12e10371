"""Parse episode transcripts (Markdown, WebVTT, SRT, plain text) into `Episode`s.

Offsets are Python `str` indices into the file's text decoded as UTF-8 (a BOM is
dropped), so `read_source_text(path)[start:end]` gives back what was parsed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".md", ".txt", ".vtt", ".srt")
MIN_TRANSCRIPT_WORDS = 5

YOUTUBE_ID_RE = re.compile(r"(?:v=|youtu\.be/|\[)([A-Za-z0-9_-]{11})(?:\]|&|$|\b)")
TIMING_RE = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*"
    r"(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
CUE_TOKEN_RE = re.compile(r"<[^>\n]*>|[^\s<]+")
MD_FIELD_RE = re.compile(r"^\*\*(?P<key>[^*]+?):\*\*\s*(?P<value>.*)$", re.MULTILINE)
MD_TRANSCRIPT_RE = re.compile(r"^##\s+Transcript\s*$", re.MULTILINE | re.IGNORECASE)
MD_SECTION_END_RE = re.compile(r"^(?:---+\s*$|##\s+\S)", re.MULTILINE)


class TranscriptError(Exception):
    """A file that cannot be used as a transcript; `code` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Skipped:
    """A transcript file left out of the index, with the reason."""

    source_file: str
    code: str
    detail: str = ""


@dataclass
class Episode:
    """One episode: metadata plus the transcript as word spans into the source text."""

    id: str
    title: str
    url: str | None
    tags: list[str]
    source_file: str
    sha256: str
    text: str  # the whole source file, decoded
    words: list[tuple[int, int]]  # (start_char, end_char) of each transcript word
    word_times: list[float | None] = field(default_factory=list)
    timestamped: bool = False

    def span_text(self, first: int, last: int) -> str:
        """Text of words[first:last]; raw slice for prose, joined words for cues."""
        if first >= last:
            return ""
        if not self.timestamped:
            return self.text[self.words[first][0] : self.words[last - 1][1]]
        return " ".join(self.text[a:b] for a, b in self.words[first:last])

    def time_at(self, word_index: int) -> float | None:
        return self.word_times[word_index] if self.word_times else None

    def link(self, seconds: float | None = None) -> str | None:
        return deep_link(self.url, seconds)


@dataclass
class ParsedTranscript:
    """What a format's parser reads from a file; `parse_file` makes it an `Episode`."""

    id: str | None  # None: derived from the file name
    title: str
    url: str | None
    tags: list[str]
    words: list[tuple[int, int]]
    word_times: list[float | None] = field(default_factory=list)
    timestamped: bool = False


def deep_link(url: str | None, seconds: float | None = None) -> str | None:
    """Episode URL, deep-linked to `seconds` (YouTube's `t=`) when both are known."""
    if not url or seconds is None:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}t={int(seconds)}s"


def format_moment(seconds: float | None) -> str | None:
    """`m:ss` or `h:mm:ss`; None when the moment is unknown."""
    if seconds is None:
        return None
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def moment_label(seconds: float | None, position: float | None = None) -> str | None:
    """Where in the episode a quote stands: its time (`m:ss`), or without times the share
    of the episode's words before it ("27% van de aflevering"); None when unknown."""
    if seconds is not None:
        return format_moment(seconds)
    if position is None:
        return None
    return f"{round(100 * position)}% van de aflevering"


def where_note(seconds: float | None, position: float | None = None) -> str:
    """ " (rond 12:34)" or " (rond 27% van de aflevering)" after a source's title (" (aan
    het begin van de aflevering)" below 0.5%), or "" when unknown. "rond" for times too:
    a time is the start of the caption cue (or unit) the quote begins in, a few seconds
    before its first word."""
    if seconds is None and position is not None and round(100 * position) == 0:
        return " (aan het begin van de aflevering)"  # not "rond 0% van de aflevering"
    moment = moment_label(seconds, position)
    return f" (rond {moment})" if moment else ""


def read_source(path: Path, max_bytes: int | None = None) -> tuple[bytes, str]:
    """A transcript file's bytes and their text, from one read; refuse unusable files.

    Callers hash these bytes rather than reading the file again: an upload may replace
    the file in between, and a hash of newer bytes would mark older text as current.
    """
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise TranscriptError("too_large", f"{size / 1e6:.1f} MB")
    data = path.read_bytes()
    if not data.strip():
        raise TranscriptError("empty")
    if b"\x00" in data[:8192]:
        raise TranscriptError("binary")
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError("not_utf8", f"byte {exc.start}") from exc


def read_source_text(path: Path, max_bytes: int | None = None) -> str:
    """Read a transcript file as text, refusing what is not a usable text file."""
    return read_source(path, max_bytes)[1]


def slugify(value: str) -> str:
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    value = re.sub(r"[^a-zA-Z0-9]+", "-", value).strip("-").lower()
    return value or "episode"


def _title_from_name(path: Path) -> str:
    stem = path.name
    for suffix in SUPPORTED_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"\.[a-z]{2}(?:-[A-Za-z]{2})?$", "", stem)  # yt-dlp language suffix
    stem = re.sub(r"\s*\[[A-Za-z0-9_-]{11}\]\s*$", "", stem)
    return stem.replace("_", " ").strip() or path.name


def _youtube_id(text: str) -> str | None:
    match = YOUTUBE_ID_RE.search(text)
    return match.group(1) if match else None


def _word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]


def parse_markdown(text: str, path: Path) -> ParsedTranscript:
    """The sample's format: `# title`, `**Source:**`, `**Video ID:**`, `**Tags:**`,
    then `## Transcript` up to the next `---` or `##` heading."""
    first_line = text.lstrip().splitlines()[0] if text.strip() else ""
    title = first_line.lstrip("#").strip() if first_line.startswith("#") else _title_from_name(path)
    fields = {
        m.group("key").strip().lower(): m.group("value").strip() for m in MD_FIELD_RE.finditer(text)
    }
    heading = MD_TRANSCRIPT_RE.search(text)
    if heading is None:
        raise TranscriptError("no_transcript", "no '## Transcript' section")
    start = heading.end()
    end_match = MD_SECTION_END_RE.search(text, start)
    end = end_match.start() if end_match else len(text)
    url_match = re.search(r"https?://\S+?(?=\)|\s|$)", fields.get("source", ""))
    url = url_match.group(0) if url_match else None
    video_id = fields.get("video id") or (_youtube_id(url) if url else None)
    if video_id and not url:
        url = f"https://www.youtube.com/watch?v={video_id}"
    tags = [t.lstrip("#") for t in fields.get("tags", "").split() if t.lstrip("#")]
    return ParsedTranscript(
        id=video_id, title=title, url=url, tags=tags, words=_word_spans(text, start, end)
    )


def parse_plain(text: str, path: Path) -> ParsedTranscript:
    """Plain text: an optional `# title` first line, then the transcript."""
    start = 0
    title = _title_from_name(path)
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("# "):
        title = lines[0][2:].strip() or title
        start = len(lines[0])
    video_id = _youtube_id(path.name)
    return ParsedTranscript(
        id=video_id,
        title=title,
        url=f"https://www.youtube.com/watch?v={video_id}" if video_id else None,
        tags=[],
        words=_word_spans(text, start, len(text)),
    )


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def _cue_lines(text: str) -> Iterable[tuple[float, list[tuple[int, str]]]]:
    """Yield (start seconds, [(offset, line)]) for each cue of a VTT/SRT file."""
    offset = 0
    cue_start: float | None = None
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        timing = TIMING_RE.match(line)
        if timing:
            cue_start, lines = _seconds(timing.group("start")), []
        elif not line.strip():
            if cue_start is not None and lines:
                yield cue_start, lines
            cue_start, lines = None, []
        elif cue_start is not None:
            lines.append((offset, line))
        offset += len(raw)
    if cue_start is not None and lines:
        yield cue_start, lines


def parse_cues(text: str, path: Path) -> ParsedTranscript:
    """WebVTT or SRT: one start time per cue; YouTube's rolling repeats are dropped."""
    words: list[tuple[int, int]] = []
    times: list[float | None] = []
    previous_line = ""
    for start_time, lines in _cue_lines(text):
        for offset, line in lines:
            tokens = [m for m in CUE_TOKEN_RE.finditer(line) if not m.group().startswith("<")]
            plain = " ".join(m.group() for m in tokens)
            if not plain or plain == previous_line:
                continue  # auto-captions repeat the previous line at the top of each cue
            previous_line = plain
            for m in tokens:
                words.append((offset + m.start(), offset + m.end()))
                times.append(start_time)
    video_id = _youtube_id(path.name)
    return ParsedTranscript(
        id=video_id,
        title=_title_from_name(path),
        url=f"https://www.youtube.com/watch?v={video_id}" if video_id else None,
        tags=[],
        words=words,
        word_times=times,
        timestamped=True,
    )


def parse_file(path: Path, max_bytes: int | None = None, name: str | None = None) -> Episode:
    """Parse one transcript file; raise `TranscriptError` when it is unusable."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise TranscriptError("unsupported", suffix or "no extension")
    data, text = read_source(path, max_bytes)
    if suffix in (".vtt", ".srt"):
        parsed = parse_cues(text, path)
    elif suffix == ".md" or MD_TRANSCRIPT_RE.search(text):
        parsed = parse_markdown(text, path)
    else:
        parsed = parse_plain(text, path)
    if len(parsed.words) < MIN_TRANSCRIPT_WORDS:
        raise TranscriptError("no_transcript", f"{len(parsed.words)} words")
    source_file = name or path.name
    return Episode(
        id=parsed.id or slugify(Path(source_file).stem),
        title=parsed.title,
        url=parsed.url,
        tags=parsed.tags,
        source_file=source_file,
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        words=parsed.words,
        word_times=parsed.word_times,
        timestamped=parsed.timestamped,
    )


def list_transcript_files(folder: Path) -> list[Path]:
    """All regular, visible files directly in `folder`, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def normalise_quote_text(text: str) -> str:
    """Text with cue timings and tags removed and whitespace folded, for quote checks."""
    lines = [
        line
        for line in text.splitlines()
        if not TIMING_RE.match(line) and not line.strip().isdigit()  # SRT cue counters
    ]
    text = re.sub(r"<[^>\n]*>", " ", "\n".join(lines))
    return " ".join(text.split())


def quote_in_source(quote: str, text: str, start: int, end: int) -> bool:
    """Whether `quote` is verbatim in text[start:end] (cue markup ignored)."""
    window = text[start:end]
    return quote in window or normalise_quote_text(quote) in normalise_quote_text(window)
