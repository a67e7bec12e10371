"""Admins' transcript uploads: a safe file name, validated before it replaces anything."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.transcripts import SUPPORTED_SUFFIXES, parse_file

MAX_STEM = 120
UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
# yt-dlp's `Title [id].nl.vtt`: `rag.transcripts` reads the episode's id from this tag.
YOUTUBE_TAG_RE = re.compile(r"\[[A-Za-z0-9_-]{11}\]")


def sanitize_filename(name: str | None) -> str | None:
    """A plain file name with a supported suffix; None when the suffix is not supported.

    Directories (either slash), control and non-ASCII characters, leading dots and `..`
    are removed, so the result can only ever name a visible file directly in one folder.
    The last YouTube id tag (`[` + 11 id characters + `]`) is kept, even when cut to size.
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}"
    if not dot or suffix not in SUPPORTED_SUFFIXES:
        return None
    tags = list(YOUTUBE_TAG_RE.finditer(stem))
    if not tags:
        stem = _safe_part(stem).strip("._-")[:MAX_STEM].rstrip("._-")
        return f"{stem or 'transcript'}{suffix}"
    tag = tags[-1]
    tail = _safe_part(stem[tag.end() :]).rstrip("._-")[: MAX_STEM - len(tag[0])].rstrip("._-")
    head = _safe_part(stem[: tag.start()]).lstrip("._-")[: MAX_STEM - len(tag[0]) - len(tail)]
    return f"{head}{tag[0]}{tail}{suffix}"


def _safe_part(text: str) -> str:
    """`text` with unsafe runs as `_` and dot runs as one dot."""
    return re.sub(r"\.{2,}", ".", UNSAFE_RE.sub("_", text))


@dataclass(frozen=True)
class SavedTranscript:
    name: str
    title: str
    words: int
    replaced: bool


def save_transcript(folder: Path, name: str, data: bytes, max_bytes: int) -> SavedTranscript:
    """Validate `data` as a transcript and move it into `folder` as `name`.

    Raises `rag.transcripts.TranscriptError` when the file is unusable; an existing file
    with that name is then left untouched. The file is parsed under its final name inside a
    hidden scratch folder on the same disk, so titles and ids derived from the name are right
    and the final `os.replace` is atomic.
    """
    if name != sanitize_filename(name):
        raise ValueError(f"unsafe transcript file name: {name!r}")
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    scratch = Path(tempfile.mkdtemp(prefix=".upload-", dir=folder))
    try:
        candidate = scratch / name
        candidate.write_bytes(data)
        episode = parse_file(candidate, max_bytes=max_bytes, name=name)
        replaced = final.exists()
        os.replace(candidate, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return SavedTranscript(name, episode.title, len(episode.words), replaced)
