"""The synthetic archive generator used by `aireport bench` (the numbers go in the README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import SAMPLE

from rag.bench import replica_archive
from rag.service import AnswerService
from rag.store import SearchIndex
from rag.synthetic import MarkovChain, write_synthetic
from rag.transcripts import parse_file


def test_synthetic_episodes_are_distinct_and_parseable(tmp_path: Path):
    write_synthetic(tmp_path, SAMPLE, episodes=5, words=300)
    episodes = [parse_file(p) for p in sorted(tmp_path.iterdir())]
    assert len({e.id for e in episodes}) == 5
    assert len({e.title for e in episodes}) == 5
    assert all(len(e.words) == 300 for e in episodes)
    texts = {e.span_text(0, len(e.words)) for e in episodes}
    assert len(texts) == 5


def test_markov_chain_only_uses_sample_words():
    words = "de podcast gaat over ai en de podcast gaat over chips".split()
    text = MarkovChain(words, seed=1).generate(50)
    assert len(text.split()) == 50
    assert set(text.split()) <= set(words)


def test_replica_archive_serves_without_embedding_anything(sample_index, tmp_path: Path):
    archive = replica_archive(sample_index, episodes=3, words=600, work=tmp_path)
    index = SearchIndex.load(archive.index_dir)
    assert len(index.episodes) == 3 and len(index.units) == 3 * 15
    assert index.embedding_model == SearchIndex.load(sample_index.index_dir).embedding_model
    vectors = index.unit_matrix()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sample = SearchIndex.load(sample_index.index_dir).unit_matrix()
    # each unit is a perturbed copy of a sample unit: close to it, but not equal
    best = (vectors @ sample.T).max(axis=1)
    assert (best > 0.9).all() and (best < 0.9999).all()
    service = AnswerService(archive)
    assert service.load()
    retrieval = service.retrieve("Wat is Groq?")
    assert retrieval.fragments and retrieval.fragments[0].chunk.text
