"""The synthetic archive generator used by `aireport bench` (the numbers go in the README)."""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLE

from rag.bench import MarkovChain, write_synthetic
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
