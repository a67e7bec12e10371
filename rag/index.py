"""The on-disk index: FAISS vectors, BM25, and chunk metadata as JSON (never pickle).

Layout of `INDEX_DIR`:

    CURRENT              name of the live build (replaced atomically)
    builds/<name>/       manifest.json, episodes.json, units.json, chunks.json,
                         units.faiss, chunks.faiss, bm25/

A build is written into a fresh folder, fsynced, and only then made live by
replacing `CURRENT`, so a crash, an error or a power loss midway leaves the previous
index loadable. The previous build is kept until the next swap: a process that has
just read `CURRENT` can still open it. An unreadable build counts as missing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import bm25s
import faiss
import numpy as np
from langchain_core.embeddings import Embeddings

from rag.chunking import Chunk, ChunkerConfig, Unit, chunk_episode
from rag.embeddings import embed_passages, embedder_name
from rag.settings import Settings
from rag.text import search_tokens
from rag.transcripts import (
    Episode,
    Skipped,
    TranscriptError,
    deep_link,
    list_transcript_files,
    parse_file,
)

log = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG, which would print through any root handler.
logging.getLogger("bm25s").setLevel(logging.WARNING)

FORMAT_VERSION = 2  # 2: units carry gap_after; BM25 over units too
CURRENT_FILE = "CURRENT"
# Vectors searched exactly up to this many; above, an HNSW graph. Measured on 2 cores
# (top 1,000 of random 384-d vectors): exact 2 ms at 75,000 and 56 ms at 300,000 rows,
# HNSW 5-6 ms at both; building the graph costs ~0.3 ms a vector.
HNSW_MIN_VECTORS = 200_000
HNSW_LINKS = 32
HNSW_EF_CONSTRUCTION = 40
ProgressFn = Callable[[int, int], None]
T = TypeVar("T")


class IndexMissingError(Exception):
    """There is no usable index yet."""


class IndexUnreadableError(IndexMissingError):
    """The live build is there but cannot be read (truncated or damaged files)."""


# What reading a damaged or vanished build raises: JSON and .npy errors are ValueErrors,
# faiss raises RuntimeError, a build deleted under the reader FileNotFoundError.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError)


class IndexBusyError(Exception):
    """Another process is building the index right now."""


@dataclass
class EpisodeInfo:
    id: str
    title: str
    url: str | None
    tags: list[str]
    source_file: str
    sha256: str
    timestamped: bool
    words: int

    def link(self, seconds: float | None = None) -> str | None:
        return deep_link(self.url, seconds)

    @classmethod
    def of(cls, episode: Episode) -> EpisodeInfo:
        return cls(
            id=episode.id,
            title=episode.title,
            url=episode.url,
            tags=episode.tags,
            source_file=episode.source_file,
            sha256=episode.sha256,
            timestamped=episode.timestamped,
            words=len(episode.words),
        )


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


class SearchIndex:
    """A loaded index: metadata, vectors and BM25, read-only once built."""

    def __init__(
        self,
        path: Path,
        manifest: dict,
        episodes: list[EpisodeInfo],
        units: list[Unit],
        chunks: list[Chunk],
        unit_vectors: faiss.Index,
        chunk_vectors: faiss.Index,
        bm25: bm25s.BM25 | None,
        unit_bm25: bm25s.BM25 | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.episodes = {e.id: e for e in episodes}
        self.units = units
        self.chunks = chunks
        self.unit_vectors = unit_vectors
        self.chunk_vectors = chunk_vectors
        self.bm25 = bm25
        self.unit_bm25 = unit_bm25
        # Global unit position of each episode's unit 0, so chunk.first_unit maps to a row.
        self.unit_base: dict[str, int] = {}
        for row, unit in enumerate(units):
            self.unit_base.setdefault(unit.episode_id, row - unit.index)

    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding_model"]

    def chunk_unit_rows(self, chunk: Chunk) -> range:
        base = self.unit_base[chunk.episode_id]
        return range(base + chunk.first_unit, base + chunk.last_unit)

    @property
    def has_chunk_vectors(self) -> bool:
        """False when only units were embedded (`CHUNK_VECTORS=none`)."""
        return self.chunk_vectors.ntotal > 0

    def unit_vector_matrix(self) -> np.ndarray:
        return all_vectors(self.unit_vectors)

    @classmethod
    def load(cls, index_dir: Path) -> SearchIndex:
        """Load the live build; raise `IndexMissingError` when there is none.

        An unreadable build raises `IndexUnreadableError` (also an `IndexMissingError`).
        When `CURRENT` changed while reading, the build was swapped out and deleted under
        us (two swaps by another process): the load is retried once with the new build.
        """
        name = live_name(index_dir)
        if name is None:
            raise IndexMissingError(f"no index in {index_dir}")
        try:
            return cls._load_build(index_dir / "builds" / name)
        except IndexUnreadableError as exc:
            again = live_name(index_dir)
            if again is None or again == name:
                raise
            log.info("build %s went away while loading (%s); loading %s", name, exc, again)
            return cls._load_build(index_dir / "builds" / again)

    @classmethod
    def _load_build(cls, build: Path) -> SearchIndex:
        manifest = _read(build / "manifest.json", _read_json)
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMissingError(f"index format {manifest.get('format')} is not supported")
        episodes = _read(build / "episodes.json", lambda p: _read_records(p, EpisodeInfo))
        units = _read(build / "units.json", lambda p: _read_records(p, Unit))
        chunks = _read(build / "chunks.json", lambda p: _read_records(p, Chunk))
        bm25 = unit_bm25 = None
        if chunks:
            bm25 = _read(build / "bm25", _read_bm25)
            unit_bm25 = _read(build / "bm25_units", _read_bm25)
        return cls(
            build,
            manifest,
            episodes,
            units,
            chunks,
            _read(build / "units.faiss", _read_faiss),
            _read(build / "chunks.faiss", _read_faiss),
            bm25,
            unit_bm25,
        )


def _read(path: Path, reader: Callable[[Path], T]) -> T:
    """`reader(path)`, turning what a damaged or vanished file raises into one error."""
    try:
        return reader(path)
    except READ_ERRORS as exc:
        name = f"{path.parent.name}/{path.name}"
        raise IndexUnreadableError(f"{name} is unreadable: {type(exc).__name__}: {exc}") from exc


def _read_json(path: Path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _read_records(path: Path, kind: type[T]) -> list[T]:
    return [kind(**record) for record in _read_json(path)]


def _read_bm25(path: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(path), allow_pickle=False)


def _read_faiss(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))


def _write_json(path: Path, value) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(value, fh, ensure_ascii=False)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (which makes renames into it durable), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, including itself."""
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            _fsync(Path(root, name))
        _fsync(Path(root))


def all_vectors(index: faiss.Index) -> np.ndarray:
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def live_name(index_dir: Path) -> str | None:
    """The build `CURRENT` names, whether or not it exists."""
    try:
        return (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def current_build(index_dir: Path) -> Path | None:
    name = live_name(index_dir)
    if name is None:
        return None
    build = index_dir / "builds" / name
    return build if (build / "manifest.json").is_file() else None


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


@dataclass
class EpisodeParts:
    info: EpisodeInfo
    units: list[Unit]
    chunks: list[Chunk]
    unit_vectors: np.ndarray | None = None
    chunk_vectors: np.ndarray | None = None


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


def _previous_parts(previous: SearchIndex | None) -> dict[str, EpisodeParts]:
    """Episodes of the live index with their vectors, keyed by source file."""
    if previous is None:
        return {}
    unit_matrix = all_vectors(previous.unit_vectors)
    chunk_matrix = all_vectors(previous.chunk_vectors)
    parts: dict[str, EpisodeParts] = {}
    for info in previous.episodes.values():
        unit_rows = [i for i, u in enumerate(previous.units) if u.episode_id == info.id]
        chunk_rows = [i for i, c in enumerate(previous.chunks) if c.episode_id == info.id]
        parts[info.source_file] = EpisodeParts(
            info,
            [previous.units[i] for i in unit_rows],
            [previous.chunks[i] for i in chunk_rows],
            unit_matrix[unit_rows],
            chunk_matrix[chunk_rows] if previous.has_chunk_vectors else chunk_matrix[:0],
        )
    return parts


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
    return ChunkerConfig(settings.unit_words, settings.chunk_units, settings.chunk_overlap_units)


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


def _build_locked(settings: Settings, embedder: Embeddings, progress: ProgressFn | None):
    started = time.perf_counter()
    report = IndexReport()
    chunker = chunker_config(settings)
    model = embedder_name(embedder)
    previous = _load_previous(settings.index_dir)
    report.full_rebuild = not _compatible(previous, model, chunker, settings.chunk_vectors)
    old = {} if report.full_rebuild else _previous_parts(previous)

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
    build = _write_build(settings.index_dir, parts, model, chunker, report, settings.chunk_vectors)
    _swap_in(settings.index_dir, build)
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


def _embed_new(parts, embedder, progress, report: IndexReport, chunks: bool = False) -> None:
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


def vector_index(vectors: list[np.ndarray], dim: int) -> faiss.Index:
    """Exact (flat) inner-product search, or an HNSW graph from `HNSW_MIN_VECTORS` on."""
    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    if len(matrix) >= HNSW_MIN_VECTORS:
        index = faiss.IndexHNSWFlat(dim, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(dim)
    if len(matrix):
        index.add(matrix)
    return index


def is_hnsw(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexHNSW)


def _write_build(
    index_dir: Path,
    parts,
    model: str,
    chunker: ChunkerConfig,
    report,
    chunk_vectors: str = "none",
) -> Path:
    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns()}"
    tmp = builds / f".tmp-{name}"
    tmp.mkdir()
    dims = [p.unit_vectors.shape[1] for p in parts if p.unit_vectors is not None and p.units]
    dim = dims[0] if dims else 384
    units = [u for p in parts for u in p.units]
    chunks = [c for p in parts for c in p.chunks]
    _write_json(tmp / "episodes.json", [asdict(p.info) for p in parts])
    _write_json(tmp / "units.json", [asdict(u) for u in units])
    _write_json(tmp / "chunks.json", [asdict(c) for c in chunks])
    for filename, vectors in (
        ("units.faiss", [p.unit_vectors for p in parts]),
        ("chunks.faiss", [p.chunk_vectors for p in parts]),
    ):
        faiss.write_index(vector_index(vectors, dim), str(tmp / filename))
    if chunks:
        for folder, texts in (
            ("bm25", [c.text for c in chunks]),
            ("bm25_units", [u.text for u in units]),
        ):
            bm25 = bm25s.BM25()
            bm25.index([search_tokens(t) or ["_"] for t in texts], show_progress=False)
            bm25.save(str(tmp / folder), allow_pickle=False)
    manifest = {
        "format": FORMAT_VERSION,
        "embedding_model": model,
        "dim": dim,
        "chunker": chunker.as_dict(),
        "chunk_vectors": chunk_vectors,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {
            p.info.source_file: {
                "sha256": p.info.sha256,
                "episode_id": p.info.id,
                "units": len(p.units),
                "chunks": len(p.chunks),
            }
            for p in parts
        },
        "skipped": [asdict(s) for s in report.skipped],
    }
    _write_json(tmp / "manifest.json", manifest)  # written last: marks the build complete
    _fsync_tree(tmp)  # on disk before CURRENT can name it, or a power loss leaves it broken
    final = builds / name
    tmp.rename(final)
    _fsync(builds)
    return final


def write_index(
    index_dir: Path,
    parts: list[EpisodeParts],
    model: str,
    chunker: ChunkerConfig,
    chunk_vectors: str = "none",
) -> Path:
    """Write episodes whose vectors are already known as a new build and make it live."""
    build = _write_build(index_dir, parts, model, chunker, IndexReport(), chunk_vectors)
    _swap_in(index_dir, build)
    return build


def _swap_in(index_dir: Path, build: Path) -> None:
    pointer = index_dir / CURRENT_FILE
    previous = live_name(index_dir)
    tmp = index_dir / f".{CURRENT_FILE}.tmp"
    tmp.write_text(build.name, encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, pointer)  # atomic: readers see the old or the new build, never neither
    _fsync(index_dir)
    _remove_builds(index_dir, keep=(build.name, previous))


def _remove_builds(index_dir: Path, keep: Sequence[str | None]) -> None:
    """Delete all builds but `keep` (and leftovers of killed builds).

    The previous build stays until the next swap: a process that read `CURRENT` just
    before this swap can still load it.
    """
    for stale in (index_dir / "builds").iterdir():
        if stale.name not in keep:
            shutil.rmtree(stale, ignore_errors=True)
