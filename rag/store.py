"""The index store: its on-disk format, loading, writing a build, and scoring.

FAISS vectors, BM25, and chunk metadata as JSON (never pickle). Layout of `INDEX_DIR`:

    CURRENT              name of the live build (replaced atomically)
    builds/<name>/       manifest.json, episodes.json, units.json, chunks.json,
                         units.faiss, chunks.faiss, bm25/, bm25_units/

A build is written into a fresh folder, fsynced, and only then made live by
replacing `CURRENT`, so a crash, an error or a power loss midway leaves the previous
index loadable. The previous build is kept until the next swap: a process that has
just read `CURRENT` can still open it. An unreadable build counts as missing.

`SearchIndex` answers with scores (`unit_scores`, `chunk_scores`, `unit_bm25_scores`,
...): whether vectors sit in a flat index or an HNSW graph, and what FAISS and bm25s
objects hold them, stays in this module. Building an index from the transcripts
(parse, diff, embed, lock) is `rag.index`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import bm25s
import faiss
import numpy as np

from rag.chunking import Chunk, ChunkerConfig, Unit
from rag.text import search_tokens
from rag.transcripts import Episode, Skipped, deep_link

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
T = TypeVar("T")


class IndexMissingError(Exception):
    """There is no usable index yet."""


class IndexUnreadableError(IndexMissingError):
    """The live build is there but cannot be read (truncated or damaged files)."""


# What reading a damaged or vanished build raises: JSON and .npy errors are ValueErrors,
# faiss raises RuntimeError, a build deleted under the reader FileNotFoundError.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError)


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
class EpisodeParts:
    """One episode as a build holds it; vectors are None until embedded."""

    info: EpisodeInfo
    units: list[Unit]
    chunks: list[Chunk]
    unit_vectors: np.ndarray | None = None
    chunk_vectors: np.ndarray | None = None


class SearchIndex:
    """A loaded index: metadata, vectors and BM25, read-only once built."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
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
        self._unit_vectors = unit_vectors
        self._chunk_vectors = chunk_vectors
        self._bm25 = bm25
        self._unit_bm25 = unit_bm25
        self._unit_matrix: np.ndarray | None = None
        self._chunk_matrix: np.ndarray | None = None
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
        return self._chunk_vectors.ntotal > 0

    @property
    def uses_hnsw(self) -> bool:
        """Whether the unit vectors sit in an HNSW graph (from `HNSW_MIN_VECTORS` on)."""
        return _is_hnsw(self._unit_vectors)

    # Dense vectors and scores

    def warm(self) -> None:
        """Read the vectors that scoring keeps in memory now rather than on first use."""
        self.unit_matrix()
        if self.has_chunk_vectors and not _is_hnsw(self._chunk_vectors):
            self.chunk_matrix()

    def unit_matrix(self) -> np.ndarray:
        """All unit vectors, one row per unit (read once, then kept)."""
        if self._unit_matrix is None:
            self._unit_matrix = _all_vectors(self._unit_vectors)
        return self._unit_matrix

    def chunk_matrix(self) -> np.ndarray:
        """All chunk vectors, one row per chunk; no rows without chunk vectors."""
        if self._chunk_matrix is None:
            self._chunk_matrix = _all_vectors(self._chunk_vectors)
        return self._chunk_matrix

    def unit_scores(self, qv: np.ndarray) -> np.ndarray:
        """Cosine of every unit with the query vector `qv`.

        The unit vectors are kept as a matrix anyway (passages pool them), so one product
        scores every row, HNSW or not (75,000 units: 2 ms)."""
        return self.unit_matrix() @ qv

    def chunk_scores(self, qv: np.ndarray, depth: int) -> np.ndarray:
        """Cosine of every chunk with `qv`; only with chunk vectors.

        A flat index is a matrix in memory: one product scores every row (75,000 rows:
        2 ms, where FAISS's exact top-1,000 takes 6). From `HNSW_MIN_VECTORS` on, the
        vectors are an HNSW graph and FAISS finds the top `depth` without reading every
        vector; the rest score -inf (unranked)."""
        vectors = self._chunk_vectors
        if not _is_hnsw(vectors):
            return self.chunk_matrix() @ qv
        k = min(depth, vectors.ntotal)
        scores = np.full(vectors.ntotal, -np.inf)
        if k:
            params = faiss.SearchParametersHNSW(efSearch=k)  # type: ignore[attr-defined]
            sims, ids = vectors.search(qv.reshape(1, -1), k, params=params)
            found = ids[0] >= 0
            scores[ids[0][found]] = sims[0][found]
        return scores

    # Lexical (BM25) terms and scores

    @property
    def has_bm25(self) -> bool:
        return self._bm25 is not None

    def bm25_vocabulary(self) -> list[str]:
        """The terms BM25 knows (none without chunks)."""
        return list(self._bm25.vocab_dict) if self._bm25 is not None else []

    def chunk_document_frequencies(self, terms: Container[str]) -> dict[str, int]:
        """How many chunks hold each BM25 term among `terms` (from BM25's term-major
        score matrix), in BM25's vocabulary order."""
        if self._bm25 is None:
            return {}
        indptr = np.asarray(self._bm25.scores["indptr"])
        return {
            term: int(indptr[k + 1] - indptr[k])
            for term, k in self._bm25.vocab_dict.items()
            if term in terms
        }

    def unit_bm25_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 of every unit for `terms` (terms BM25 knows; needs `has_bm25`)."""
        assert self._unit_bm25 is not None
        return np.asarray(self._unit_bm25.get_scores(terms), dtype=np.float64)

    def chunk_bm25_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 of every chunk for `terms` (terms BM25 knows; needs `has_bm25`)."""
        assert self._bm25 is not None
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float64)

    # Loading

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


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _read_records(path: Path, kind: type[T]) -> list[T]:
    return [kind(**record) for record in _read_json(path)]


def _read_bm25(path: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(path), allow_pickle=False)


def _read_faiss(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))


def _write_json(path: Path, value: Any) -> None:
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


def _all_vectors(index: faiss.Index) -> np.ndarray:
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def _is_hnsw(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexHNSW)


def _vector_index(vectors: Sequence[np.ndarray | None], dim: int) -> faiss.Index:
    """Exact (flat) inner-product search, or an HNSW graph from `HNSW_MIN_VECTORS` on."""
    present = [v for v in vectors if v is not None]
    matrix = np.vstack(present).astype(np.float32) if present else np.zeros((0, dim), np.float32)
    index: faiss.Index
    if len(matrix) >= HNSW_MIN_VECTORS:
        index = faiss.IndexHNSWFlat(dim, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(dim)
    if len(matrix):
        index.add(matrix)
    return index


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


def write_build(
    index_dir: Path,
    parts: list[EpisodeParts],
    model: str,
    chunker: ChunkerConfig,
    skipped: Sequence[Skipped] = (),
    chunk_vectors: str = "none",
) -> Path:
    """Write `parts` (vectors known) as a new, complete and fsynced build; not yet live."""
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
        faiss.write_index(_vector_index(vectors, dim), str(tmp / filename))
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
        "skipped": [asdict(s) for s in skipped],
    }
    _write_json(tmp / "manifest.json", manifest)  # written last: marks the build complete
    _fsync_tree(tmp)  # on disk before CURRENT can name it, or a power loss leaves it broken
    final = builds / name
    tmp.rename(final)
    _fsync(builds)
    return final


def swap_in(index_dir: Path, build: Path) -> None:
    """Make `build` the live one (atomically) and delete all builds but it and the last."""
    pointer = index_dir / CURRENT_FILE
    previous = live_name(index_dir)
    tmp = index_dir / f".{CURRENT_FILE}.tmp"
    tmp.write_text(build.name, encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, pointer)  # atomic: readers see the old or the new build, never neither
    _fsync(index_dir)
    _remove_builds(index_dir, keep=(build.name, previous))


def write_index(
    index_dir: Path,
    parts: list[EpisodeParts],
    model: str,
    chunker: ChunkerConfig,
    chunk_vectors: str = "none",
) -> Path:
    """Write episodes whose vectors are already known as a new build and make it live."""
    build = write_build(index_dir, parts, model, chunker, chunk_vectors=chunk_vectors)
    swap_in(index_dir, build)
    return build


def episode_parts(index: SearchIndex) -> dict[str, EpisodeParts]:
    """The episodes of `index` with their vectors, keyed by source file."""
    unit_matrix = index.unit_matrix()
    chunk_matrix = index.chunk_matrix()
    parts: dict[str, EpisodeParts] = {}
    for info in index.episodes.values():
        unit_rows = [i for i, u in enumerate(index.units) if u.episode_id == info.id]
        chunk_rows = [i for i, c in enumerate(index.chunks) if c.episode_id == info.id]
        parts[info.source_file] = EpisodeParts(
            info,
            [index.units[i] for i in unit_rows],
            [index.chunks[i] for i in chunk_rows],
            unit_matrix[unit_rows],
            chunk_matrix[chunk_rows] if index.has_chunk_vectors else chunk_matrix[:0],
        )
    return parts


def _remove_builds(index_dir: Path, keep: Sequence[str | None]) -> None:
    """Delete all builds but `keep` (and leftovers of killed builds).

    The previous build stays until the next swap: a process that read `CURRENT` just
    before this swap can still load it.
    """
    for stale in (index_dir / "builds").iterdir():
        if stale.name not in keep:
            shutil.rmtree(stale, ignore_errors=True)
