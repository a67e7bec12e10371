"""Chunk windows: sizes, overlap, and offsets that point back into the source file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLE

from rag.chunking import ChunkerConfig, chunk_episode
from rag.transcripts import parse_file, quote_in_source, read_source_text


def test_sample_chunks_round_trip_and_overlap():
    episode = parse_file(SAMPLE)
    text = read_source_text(SAMPLE)
    config = ChunkerConfig(unit_words=40, chunk_units=8, overlap_units=2)
    units, chunks = chunk_episode(episode, config)
    for piece in [*units, *chunks]:
        assert text[piece.start_char : piece.end_char] == piece.text
    assert all(len(c.text.split()) <= 8 * 40 + 40 for c in chunks)
    # consecutive chunks share two units (a quarter of a chunk)
    first, second = chunks[0], chunks[1]
    assert second.first_unit == first.last_unit - 2
    assert (
        text[second.start_char : first.end_char].split()
        == " ".join(u.text for u in units[second.first_unit : first.last_unit]).split()
    )
    # every word of the transcript is in some chunk
    assert chunks[0].start_char == episode.words[0][0]
    assert chunks[-1].end_char == episode.words[-1][1]
    assert sum(len(u.text.split()) for u in units) == len(episode.words)


def test_timestamped_chunks_keep_times(tmp_path: Path):
    lines = []
    for i in range(60):
        start = i * 5
        lines.append(
            f"{i + 1}\n00:{start // 60:02d}:{start % 60:02d},000 --> "
            f"00:{(start + 5) // 60:02d}:{(start + 5) % 60:02d},000\n"
            f"woord{i}a woord{i}b woord{i}c woord{i}d\n"
        )
    path = tmp_path / "lang.srt"
    path.write_text("\n".join(lines), encoding="utf-8")
    episode = parse_file(path)
    units, chunks = chunk_episode(
        episode, ChunkerConfig(unit_words=10, chunk_units=4, overlap_units=1)
    )
    text = read_source_text(path)
    assert chunks[0].start_time == 0.0
    assert chunks[1].start_time == pytest.approx(units[3].start_time)
    assert chunks[-1].end_time == 295.0
    for chunk in chunks:
        # cue markup sits between the words, but the words are all there, in order
        assert quote_in_source(chunk.text, text, chunk.start_char, chunk.end_char)


def test_tiny_tail_unit_is_merged():
    episode = parse_file(SAMPLE)
    units, _ = chunk_episode(episode, ChunkerConfig(unit_words=40, chunk_units=8, overlap_units=2))
    assert len(units[-1].text.split()) >= 40 // 3


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError):
        ChunkerConfig(unit_words=40, chunk_units=4, overlap_units=4)


def test_the_first_unit_can_be_shorter_so_every_later_cut_moves():
    # FIRST_UNIT_WORDS cuts the same transcript elsewhere: the evaluation uses it to see
    # how much retrieval depends on where the 40-word cuts happen to fall.
    episode = parse_file(SAMPLE)
    units, _ = chunk_episode(episode, ChunkerConfig(unit_words=40, first_unit_words=20))
    assert [u.first_word for u in units[:4]] == [0, 20, 60, 100]
    assert sum(len(u.text.split()) for u in units) == len(episode.words)
    # Cut as before when unset, and an index built before the option stays compatible.
    assert [u.first_word for u in chunk_episode(episode, ChunkerConfig())[0][:3]] == [0, 40, 80]
    assert ChunkerConfig().as_dict() == {"unit_words": 40, "chunk_units": 8, "overlap_units": 2}
    assert ChunkerConfig(first_unit_words=20).as_dict()["first_unit_words"] == 20
    with pytest.raises(ValueError):
        ChunkerConfig(first_unit_words=-1)
