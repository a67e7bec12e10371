"""Parsing the transcript formats, and refusing unusable files with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLE

from rag.transcripts import TranscriptError, parse_file, read_source_text


def test_sample_markdown_metadata_and_transcript_bounds():
    episode = parse_file(SAMPLE)
    assert episode.id == "xDCa0xgymMY"
    assert episode.title.startswith("Grok-3 daagt OpenAI uit")
    assert episode.url == "https://www.youtube.com/watch?v=xDCa0xgymMY"
    assert episode.tags == ["youtube", "transcript", "ai-report"]
    text = read_source_text(SAMPLE)
    first = text[episode.words[0][0] : episode.words[0][1]]
    last = text[episode.words[-1][0] : episode.words[-1][1]]
    assert first == "welkom"
    assert last == "[Muziek]"  # the transcript ends before "---" and "## Notes"
    assert "Takeaways" not in episode.span_text(0, len(episode.words))
    assert not episode.timestamped and episode.time_at(0) is None
    assert len(episode.words) > 20000


def test_word_offsets_round_trip_on_sample():
    episode = parse_file(SAMPLE)
    text = read_source_text(SAMPLE)
    for a, b in episode.words[::997]:
        assert text[a:b] == text[a:b].strip() and text[a:b]
    assert episode.span_text(10, 20) == text[episode.words[10][0] : episode.words[19][1]]


VTT = """WEBVTT
Kind: captions
Language: nl

00:00:01.000 --> 00:00:03.500 align:start position:0%
welkom bij<00:00:01.500><c> AI</c><00:00:02.000><c> report</c>

00:00:03.500 --> 00:00:03.510
welkom bij AI report

00:00:03.510 --> 00:00:06.000
welkom bij AI report
vandaag praten we over grok

NOTE this is a comment

01:02:03.000 --> 01:02:05.000
en over quantisatie
"""


def test_webvtt_times_tags_and_rolling_repeats(tmp_path: Path):
    path = tmp_path / "Aflevering 12 [abcdefghijk].nl.vtt"
    path.write_text(VTT, encoding="utf-8")
    episode = parse_file(path)
    words = episode.span_text(0, len(episode.words)).split()
    expected = "welkom bij AI report vandaag praten we over grok en over quantisatie"
    assert words == expected.split()
    assert episode.timestamped
    assert episode.word_times[0] == 1.0
    assert episode.word_times[words.index("vandaag")] == 3.51
    assert episode.word_times[-1] == 3723.0
    assert episode.id == "abcdefghijk"
    assert episode.title == "Aflevering 12"
    assert episode.link(3723.0) == "https://www.youtube.com/watch?v=abcdefghijk&t=3723s"
    text = read_source_text(path)
    for a, b in episode.words:
        assert "<" not in text[a:b]


def test_srt(tmp_path: Path):
    path = tmp_path / "interview.srt"
    path.write_text(
        "1\n00:00:00,500 --> 00:00:02,000\nhallo en welkom\n\n"
        "2\n00:01:10,250 --> 00:01:12,000\nbij de podcast\nover AI\n",
        encoding="utf-8",
    )
    episode = parse_file(path)
    assert episode.span_text(0, len(episode.words)) == "hallo en welkom bij de podcast over AI"
    assert episode.word_times[0] == 0.5 and episode.word_times[-1] == 70.25
    assert episode.id == "interview" and episode.url is None


def test_plain_text_with_title_line(tmp_path: Path):
    path = tmp_path / "losse-aflevering.txt"
    path.write_text("# Een losse aflevering\nwe praten vandaag over taalmodellen en chips\n")
    episode = parse_file(path)
    assert episode.title == "Een losse aflevering"
    assert episode.span_text(0, 3) == "we praten vandaag"
    assert episode.id == "losse-aflevering"


def test_bom_is_dropped_and_offsets_stay_valid(tmp_path: Path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffeen twee drie vier vijf zes".encode())
    episode = parse_file(path)
    text = read_source_text(path)
    assert text[episode.words[0][0] : episode.words[0][1]] == "een"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.md", b"", "empty"),
        ("blank.txt", b"   \n\n ", "empty"),
        ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        ("latin1.txt", "caf\xe9 en cr\xe8me br\xfbl\xe9e".encode("latin-1"), "not_utf8"),
        ("nosection.md", b"# Titel\n\n**Video ID:** abc\n\ngeen transcript hier", "no_transcript"),
        (
            "empty-section.md",
            b"# T\n\n## Transcript\n\n---\n## Notes\nx y z a b c",
            "no_transcript",
        ),
        ("cues.vtt", b"WEBVTT\n\nNOTE alleen een opmerking\n", "no_transcript"),
        ("slides.pdf", b"%PDF-1.4 whatever", "unsupported"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, name: str, content: bytes, code: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TranscriptError) as info:
        parse_file(path)
    assert info.value.code == code


def test_too_large_is_refused_before_reading(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("woord " * 5000)
    with pytest.raises(TranscriptError) as info:
        parse_file(path, max_bytes=1000)
    assert info.value.code == "too_large"
