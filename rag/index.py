"""Building the index: parse the transcripts, diff them with the live build, embed
what is new, write a build and swap it in, one builder at a time.

The on-disk format, loading and scoring are `rag.store`; this module only decides what
goes into a new build. Unchanged episodes keep their vectors (no embedding); a change of
embedder, chunker or `CHUNK_VECTORS` rebuilds everything.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

from rag.chunking import ChunkerConfig, chunk_episode
from rag.embeddings import embed_passages, embedder_name
from rag.settings import Settings
from rag.store import (
    EpisodeInfo,
    EpisodeParts,
    IndexMissingError,
    IndexUnreadableError,
    SearchIndex,
    episode_parts,
    swap_in,
    write_build,
)
from rag.transcripts import (
    Episode,
    Skipped,
    TranscriptError,
    list_transcript_files,
    parse_file,
)

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


class IndexBusyError(Exception):
    """Another process is building the index right now."""


@dataclass
class IndexReport:
    """What a build did, for the CLI and the admin's `/reindex`."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    episodes: int = 0
    chunks: int = 0
    embedded_words: int = 0
    seconds: float = 0.0
    full_rebuild: bool = False
    swapped: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One builder at a time across processes (the CLI and the bot may both try)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError("another index build is running") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _parse_all(settings: Settings, report: IndexReport) -> list[Episode]:
    episodes: list[Episode] = []
    seen: dict[str, str] = {}
    max_bytes = int(settings.max_transcript_mb * 1024 * 1024)
    for path in list_transcript_files(settings.transcripts_dir):
        try:
            episode = parse_file(path, max_bytes=max_bytes)
        except TranscriptError as exc:
            report.skipped.append(Skipped(path.name, exc.code, exc.detail))
            log.warning("skipped %s: %s", path.name, exc)
            continue
        except OSError as exc:
            report.skipped.append(Skipped(path.name, "unreadable", type(exc).__name__))
            continue
        if episode.id in seen:
            report.skipped.append(Skipped(path.name, "duplicate_id", seen[episode.id]))
            continue
        seen[episode.id] = path.name
        episodes.append(episode)
    return episodes


def _compatible(
    previous: SearchIndex | None, model: str, chunker: ChunkerConfig, chunk_vectors: str
) -> bool:
    return (
        previous is not None
        and previous.manifest.get("embedding_model") == model
        and previous.manifest.get("chunker") == chunker.as_dict()
        and previous.manifest.get("chunk_vectors", "embedded") == chunk_vectors
    )


def chunker_config(settings: Settings) -> ChunkerConfig:
    return ChunkerConfig(
        settings.unit_words,
        settings.chunk_units,
        settings.chunk_overlap_units,
        settings.first_unit_words,
    )


def build_index(
    settings: Settings,
    embedder: Embeddings,
    progress: ProgressFn | None = None,
) -> IndexReport:
    """Bring the index in line with the transcripts folder, incrementally when possible."""
    with build_lock(settings.index_dir):
        return _build_locked(settings, embedder, progress)


def _load_previous(index_dir: Path) -> SearchIndex | None:
    try:
        return SearchIndex.load(index_dir)
    except IndexUnreadableError as exc:
        log.warning("previous index unreadable, rebuilding from scratch: %s", exc)
        return None
    except IndexMissingError:
        return None


def _build_locked(
    settings: Settings, embedder: Embeddings, progress: ProgressFn | None
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    chunker = chunker_config(settings)
    model = embedder_name(embedder)
    previous = _load_previous(settings.index_dir)
    report.full_rebuild = not _compatible(previous, model, chunker, settings.chunk_vectors)
    old = episode_parts(previous) if previous is not None and not report.full_rebuild else {}

    parts: list[EpisodeParts] = []
    for episode in _parse_all(settings, report):
        before = old.get(episode.source_file)
        if before is not None and before.info.sha256 == episode.sha256:
            report.unchanged.append(episode.source_file)
            parts.append(before)
            continue
        (report.updated if before is not None else report.added).append(episode.source_file)
        units, chunks = chunk_episode(episode, chunker)
        parts.append(EpisodeParts(EpisodeInfo.of(episode), units, chunks))
    current = {p.info.source_file for p in parts}
    previous_files = {e.source_file for e in previous.episodes.values()} if previous else set()
    report.removed = sorted(previous_files - current)
    report.episodes = len(parts)
    report.chunks = sum(len(p.chunks) for p in parts)

    if not report.changed and not report.full_rebuild:
        report.seconds = time.perf_counter() - started
        return report

    _embed_new(parts, embedder, progress, report, chunks=settings.chunk_vectors == "embedded")
    build = write_build(
        settings.index_dir, parts, model, chunker, report.skipped, settings.chunk_vectors
    )
    swap_in(settings.index_dir, build)
    report.swapped = True
    report.seconds = time.perf_counter() - started
    log.info(
        "index built: %d added, %d updated, %d removed, %d skipped, %d chunks in %.1fs",
        len(report.added),
        len(report.updated),
        len(report.removed),
        len(report.skipped),
        report.chunks,
        report.seconds,
    )
    return report


def _embed_new(
    parts: list[EpisodeParts],
    embedder: Embeddings,
    progress: ProgressFn | None,
    report: IndexReport,
    chunks: bool = False,
) -> None:
    """Vectors for the episodes that have none: their units, and (`chunks`) their chunks."""
    todo = [p for p in parts if p.unit_vectors is None]
    texts = [u.text for p in todo for u in p.units]
    if chunks:
        texts += [c.text for p in todo for c in p.chunks]
    report.embedded_words = sum(len(t.split()) for t in texts)
    vectors = embed_passages(embedder, texts, progress=progress)
    row = 0
    for p in todo:
        p.unit_vectors = vectors[row : row + len(p.units)]
        row += len(p.units)
    for p in todo:
        size = len(p.chunks) if chunks else 0
        p.chunk_vectors = vectors[row : row + size]
        row += size
