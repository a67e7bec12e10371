"""Admins' transcript uploads: a safe file name, validated before it replaces anything.

Nothing is replaced silently: a file that is replaced is kept in `.backup/` (hidden, so the
index never reads it; the newest `MAX_BACKUPS` per name), and a replacement that looks like
a mistake (far fewer words, another episode under the same name, or an episode that is
already in the folder under another name) is only saved once the admin confirms it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import messages as msg
from bot.formatting import escape
from rag.transcripts import (
    SUPPORTED_SUFFIXES,
    TranscriptError,
    list_transcript_files,
    parse_file,
)

MAX_STEM = 120
UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
# yt-dlp's `Title [id].nl.vtt`: `rag.transcripts` reads the episode's id from this tag.
YOUTUBE_TAG_RE = re.compile(r"\[[A-Za-z0-9_-]{11}\]")
# A name with nothing usable left (only emoji, say) is named after its content instead.
CONTENT_NAME_PREFIX = "transcript-"
CONTENT_NAME_HASH_CHARS = 12

BACKUP_DIR = ".backup"  # hidden: `list_transcript_files`, and so the index, skip it
MAX_BACKUPS = 5  # per file name; older backups are deleted
BACKUP_STAMP = "%Y%m%dT%H%M%SZ"
# A replacement with fewer than this share of the old file's words asks for confirmation.
SHORTER_SHARE = 0.5


def sanitize_filename(name: str | None) -> str | None:
    """A plain file name with a supported suffix; None when the suffix is not supported.

    Directories (either slash), control and non-ASCII characters, leading dots and `..`
    are removed, so the result can only ever name a visible file directly in one folder.
    The last YouTube id tag (`[` + 11 id characters + `]`) is kept, even when cut to size.
    A name with nothing usable left becomes `transcript.<suffix>`; uploads use
    `upload_name`, which names such a file after its content instead.
    """
    parts = _safe_parts(name)
    if parts is None:
        return None
    stem, suffix = parts
    return f"{stem or 'transcript'}{suffix}"


def upload_name(name: str | None, data: bytes) -> str | None:
    """The name an uploaded file is saved under: `sanitize_filename`, except that a name
    with nothing usable left (`🤖.md`) becomes `transcript-<content hash>.md`, so two such
    uploads never land on one generic name, and sending the same file again maps to the
    same name."""
    parts = _safe_parts(name)
    if parts is None:
        return None
    stem, suffix = parts
    if not stem:
        digest = hashlib.sha256(data).hexdigest()[:CONTENT_NAME_HASH_CHARS]
        stem = f"{CONTENT_NAME_PREFIX}{digest}"
    return f"{stem}{suffix}"


def _safe_parts(name: str | None) -> tuple[str, str] | None:
    """The sanitised stem (maybe empty) and the lower-case suffix; None when unsupported."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}"
    if not dot or suffix not in SUPPORTED_SUFFIXES:
        return None
    tags = list(YOUTUBE_TAG_RE.finditer(stem))
    if not tags:
        return _safe_part(stem).strip("._-")[:MAX_STEM].rstrip("._-"), suffix
    tag = tags[-1]
    tail = _safe_part(stem[tag.end() :]).rstrip("._-")[: MAX_STEM - len(tag[0])].rstrip("._-")
    head = _safe_part(stem[: tag.start()]).lstrip("._-")[: MAX_STEM - len(tag[0]) - len(tail)]
    return f"{head}{tag[0]}{tail}", suffix


def _safe_part(text: str) -> str:
    """`text` with unsafe runs as `_` and dot runs as one dot."""
    return re.sub(r"\.{2,}", ".", UNSAFE_RE.sub("_", text))


@dataclass(frozen=True)
class FileInfo:
    """A transcript file already in the folder; title, words and id are None when it is
    not a usable transcript."""

    name: str
    sha256: str
    title: str | None = None
    words: int | None = None
    episode_id: str | None = None


@dataclass(frozen=True)
class UploadPlan:
    """What saving an upload would do, worked out before anything changes."""

    name: str
    title: str
    words: int
    episode_id: str
    sha256: str
    previous: FileInfo | None  # the file with this name
    same_episode: tuple[FileInfo, ...]  # files with this episode id under other names

    @property
    def unchanged(self) -> bool:
        return self.previous is not None and self.previous.sha256 == self.sha256

    @property
    def much_shorter(self) -> bool:
        old = self.previous.words if self.previous else None
        return old is not None and not self.unchanged and self.words < old * SHORTER_SHARE

    @property
    def other_episode(self) -> bool:
        """The file with this name holds another episode (another video id)."""
        old = self.previous.episode_id if self.previous else None
        return old is not None and old != self.episode_id

    @property
    def needs_confirmation(self) -> bool:
        return self.much_shorter or self.other_episode or bool(self.same_episode)


class ConfirmationNeeded(Exception):
    """The upload looks like a mistake; `plan` says why. Nothing was changed."""

    def __init__(self, plan: UploadPlan) -> None:
        super().__init__(f"upload {plan.name} needs confirmation")
        self.plan = plan


@dataclass(frozen=True)
class MovedFile:
    """Another file of the same episode, moved to the backup folder."""

    info: FileInfo
    backup: str  # relative to the transcripts folder


@dataclass(frozen=True)
class SavedTranscript:
    name: str
    title: str
    words: int
    episode_id: str = ""
    previous: FileInfo | None = None  # the file with this name that was replaced
    backup: str | None = None  # where `previous` is kept, relative to the folder
    moved: tuple[MovedFile, ...] = ()
    unchanged: bool = False  # the same bytes were already saved under this name

    @property
    def replaced(self) -> bool:
        return self.previous is not None and not self.unchanged


def save_transcript(
    folder: Path, name: str, data: bytes, max_bytes: int, *, confirmed: bool = False
) -> SavedTranscript:
    """Validate `data` as a transcript and move it into `folder` as `name`.

    Raises `rag.transcripts.TranscriptError` when the file is unusable; an existing file
    with that name is then left untouched. The file is parsed under its final name inside a
    hidden scratch folder on the same disk, so titles and ids derived from the name are right
    and the final `os.replace` is atomic.

    Unless `confirmed`, raises `ConfirmationNeeded` (and changes nothing) when the upload
    looks like a mistake (`UploadPlan.needs_confirmation`). A replaced file is kept in
    `BACKUP_DIR`; other files of the same episode are moved there, so the episode has one
    file and the index reads the upload.
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
        plan = UploadPlan(
            name=name,
            title=episode.title,
            words=len(episode.words),
            episode_id=episode.id,
            sha256=episode.sha256,
            previous=_describe(final, max_bytes),
            same_episode=_same_episode(folder, name, episode.id, max_bytes),
        )
        if plan.needs_confirmation and not confirmed:
            raise ConfirmationNeeded(plan)
        backup = None
        if not plan.unchanged:
            backup = _backup(folder, final) if plan.previous else None
            os.replace(candidate, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # The upload is in place before the other files go, so the episode never disappears.
    moved = tuple(
        MovedFile(info, where)
        for info in plan.same_episode
        if (where := _backup(folder, folder / info.name, move=True))
    )
    return SavedTranscript(
        name=name,
        title=plan.title,
        words=plan.words,
        episode_id=plan.episode_id,
        previous=plan.previous,
        backup=backup,
        moved=moved,
        unchanged=plan.unchanged,
    )


def _describe(path: Path, max_bytes: int) -> FileInfo | None:
    """The file at `path` as a transcript, or None when there is no such file."""
    try:
        episode = parse_file(path, max_bytes=max_bytes)
    except FileNotFoundError:
        return None
    except (OSError, TranscriptError):  # there, but not a usable transcript
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            data = b""
        return FileInfo(path.name, hashlib.sha256(data).hexdigest())
    return FileInfo(path.name, episode.sha256, episode.title, len(episode.words), episode.id)


def _same_episode(folder: Path, name: str, episode_id: str, max_bytes: int) -> tuple[FileInfo, ...]:
    """The other files in `folder` the index would read as episode `episode_id`."""
    found = []
    for path in list_transcript_files(folder):
        if path.name == name:
            continue
        try:
            episode = parse_file(path, max_bytes=max_bytes)
        except (OSError, TranscriptError):
            continue
        if episode.id == episode_id:
            found.append(
                FileInfo(path.name, episode.sha256, episode.title, len(episode.words), episode.id)
            )
    return tuple(found)


def _backup(folder: Path, path: Path, *, move: bool = False) -> str | None:
    """Keep `path` as `BACKUP_DIR/<name>.<UTC time>.bak` (or `...-2.bak`, ...); None when
    `path` is gone. With `move`, `path` itself is removed afterwards.

    A hard link (no copy, and atomic) when the file system has them, else a copy. The
    `.bak` suffix is none a transcript has, so even a copy of the folder never indexes it.
    """
    backups = folder / BACKUP_DIR
    backups.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime(BACKUP_STAMP)
    # After the newest of this second, so the order survives pruning.
    first = 1 + max((n for (s, n), _ in _backups_of(backups, path.name) if s == stamp), default=0)
    for n in itertools.count(first):
        target = backups / f"{path.name}.{stamp}{f'-{n}' if n > 1 else ''}.bak"
        try:
            _link_or_copy(path, target)
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None
        break
    if move:
        path.unlink(missing_ok=True)
    _prune_backups(backups, path.name)
    return f"{BACKUP_DIR}/{target.name}"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
        return
    except (FileExistsError, FileNotFoundError):
        raise
    except OSError:  # no hard links on this file system
        pass
    with source.open("rb") as src, target.open("xb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copystat(source, target)


def _backups_of(backups: Path, name: str) -> list[tuple[tuple[str, int], Path]]:
    """The backups of `name`, oldest first, with their (time stamp, counter)."""
    pattern = re.compile(rf"{re.escape(name)}\.(\d{{8}}T\d{{6}}Z)(?:-(\d+))?\.bak")
    found = []
    for path in backups.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            found.append(((match[1], int(match[2] or 1)), path))
    return sorted(found)


def _prune_backups(backups: Path, name: str) -> None:
    """Delete all but the newest `MAX_BACKUPS` backups of `name`."""
    for _, path in _backups_of(backups, name)[:-MAX_BACKUPS]:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------ confirmation


UPLOAD_CONFIRM_SECONDS = 15 * 60
MAX_PENDING_UPLOADS = 4  # each holds the file (up to 20 MB) in memory


@dataclass
class PendingUpload:
    """An upload waiting for its admin's "replace" or "cancel"."""

    user_id: int | None
    name: str
    data: bytes
    max_bytes: int
    created: float = 0.0  # set by `PendingUploads.add`


class PendingUploads:
    """Uploads awaiting confirmation, by a random token (in the buttons' callback data).

    In memory only: after a restart, or `UPLOAD_CONFIRM_SECONDS`, the admin sends the file
    again. At most `MAX_PENDING_UPLOADS` are kept; the oldest goes first.
    """

    def __init__(self) -> None:
        self._items: dict[str, PendingUpload] = {}

    def add(self, upload: PendingUpload) -> str:
        self._expire()
        while len(self._items) >= MAX_PENDING_UPLOADS:
            del self._items[next(iter(self._items))]
        token = secrets.token_urlsafe(9)
        upload.created = time.monotonic()
        self._items[token] = upload
        return token

    def take(self, token: str, user_id: int | None) -> PendingUpload | None:
        """The upload for `token` sent by `user_id`, removed; None when unknown, expired, or
        someone else's."""
        self._expire()
        upload = self._items.get(token)
        if upload is None or upload.user_id != user_id:
            return None
        return self._items.pop(token)

    def _expire(self) -> None:
        now = time.monotonic()
        for token, upload in list(self._items.items()):
            if now - upload.created > UPLOAD_CONFIRM_SECONDS:
                del self._items[token]


PENDING_UPLOADS_KEY = "pending_uploads"
UPLOAD_CHOICE_PATTERN = r"^upl:(?:ok|no):[A-Za-z0-9_-]{1,32}$"


def pending_uploads(bot_data: dict) -> PendingUploads:
    """The application's uploads awaiting confirmation."""
    return bot_data.setdefault(PENDING_UPLOADS_KEY, PendingUploads())


def confirmation_markup(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(msg.UPLOAD_CONFIRM_BUTTON, callback_data=f"upl:ok:{token}"),
                InlineKeyboardButton(msg.UPLOAD_CANCEL_BUTTON, callback_data=f"upl:no:{token}"),
            ]
        ]
    )


def parse_choice(data: str) -> tuple[bool, str]:
    """(confirmed, token) from a button's callback data."""
    _, choice, token = data.split(":", 2)
    return choice == "ok", token


# ------------------------------------------------------------------ replies


def count_words(words: int | None) -> str:
    """`21903` as Dutch writes it: `21.903`."""
    return f"{words or 0:,}".replace(",", ".")


def render_saved(saved: SavedTranscript) -> str:
    """The reply to a saved upload: what was saved, and what it replaced or moved aside."""
    if saved.unchanged and not saved.moved:
        return msg.UPLOAD_UNCHANGED.format(
            name=escape(saved.name), title=escape(saved.title), words=count_words(saved.words)
        )
    text = msg.UPLOAD_SAVED.format(
        name=escape(saved.name), title=escape(saved.title), words=count_words(saved.words)
    )
    old = saved.previous
    if saved.replaced and old is not None and saved.backup:
        if old.words is None:
            text += msg.UPLOAD_REPLACED_UNUSABLE.format(
                name=escape(old.name), backup=escape(saved.backup)
            )
        else:
            text += msg.UPLOAD_REPLACED.format(
                name=escape(old.name),
                title=escape(old.title or ""),
                old_words=count_words(old.words),
                words=count_words(saved.words),
                backup=escape(saved.backup),
            )
    for moved in saved.moved:
        text += msg.UPLOAD_MOVED.format(
            name=escape(moved.info.name),
            old_words=count_words(moved.info.words),
            backup=escape(moved.backup),
        )
    return text


def render_confirmation(plan: UploadPlan) -> str:
    """The question before a suspicious upload is saved, with every reason for asking."""
    text = msg.UPLOAD_CONFIRM.format(
        name=escape(plan.name), title=escape(plan.title), words=count_words(plan.words)
    )
    old = plan.previous
    if plan.much_shorter and old is not None:
        text += msg.UPLOAD_CONFIRM_SHORTER.format(
            name=escape(old.name), title=escape(old.title or ""), old_words=count_words(old.words)
        )
    if plan.other_episode and old is not None:
        text += msg.UPLOAD_CONFIRM_OTHER_EPISODE.format(
            name=escape(old.name), title=escape(old.title or "")
        )
    for other in plan.same_episode:
        text += msg.UPLOAD_CONFIRM_SAME_EPISODE.format(
            episode_id=escape(plan.episode_id),
            name=escape(other.name),
            old_words=count_words(other.words),
        )
    return text + msg.UPLOAD_CONFIRM_END.format(minutes=UPLOAD_CONFIRM_SECONDS // 60)
