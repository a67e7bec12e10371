"""Uploads racing a reindex, and yt-dlp file names keeping their YouTube id."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bot.uploads import MAX_STEM, sanitize_filename, save_transcript
from rag.transcripts import parse_file

VIDEO_ID = "xDCa0xgymMY"
YT_DLP_NAME = f"Grok-3 daagt OpenAI uit [{VIDEO_ID}].nl.vtt"
VTT = (
    "WEBVTT\nKind: captions\nLanguage: nl\n\n"
    "00:00:01.000 --> 00:00:04.000\n"
    "welkom bij AI report de podcast over kunstmatige intelligentie\n\n"
    "00:01:05.000 --> 00:01:09.000\nvandaag praten we over grok en de New York Times\n"
)
MARKDOWN = (
    "# Grok-3 daagt OpenAI uit | AI Report\n\n"
    f"**Source:** [YouTube](https://www.youtube.com/watch?v={VIDEO_ID})\n"
    f"**Video ID:** {VIDEO_ID}\n\n## Transcript\n\n"
    "welkom bij AI report de podcast over kunstmatige intelligentie\n"
)

# ------------------------------------------------------------------ reindex vs. upload race


def test_hash_is_of_the_bytes_that_were_parsed(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "aflevering.txt"
    old = b"# Oude versie\nde oude tekst van deze aflevering over robots\n"
    new = b"# Nieuwe versie\nde nieuwe tekst van deze aflevering over taalmodellen\n"
    path.write_bytes(old)
    upload = tmp_path / ".upload-scratch"
    upload.write_bytes(new)

    # The race cannot be timed, so an upload's atomic replace lands right after the
    # first read of the file; everything else (decoding, parsing, hashing) is real.
    read_bytes = Path.read_bytes

    def read_then_upload_lands(self: Path) -> bytes:
        data = read_bytes(self)
        if self == path and upload.exists():
            os.replace(upload, path)
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_upload_lands)
    episode = parse_file(path)

    assert path.read_bytes() == new  # the upload did land mid-parse
    assert "oude tekst" in episode.text
    assert episode.sha256 == hashlib.sha256(old).hexdigest()
    # So the next reindex sees a changed file instead of "up to date".
    assert parse_file(path).sha256 == hashlib.sha256(new).hexdigest() != episode.sha256


# ------------------------------------------------------------------ yt-dlp names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (YT_DLP_NAME, f"Grok-3_daagt_OpenAI_uit_[{VIDEO_ID}].nl.vtt"),
        (f"Title [{VIDEO_ID}].md", f"Title_[{VIDEO_ID}].md"),
        ("Title [a_b-c0123XY].en-US.srt", "Title_[a_b-c0123XY].en-US.srt"),
        (f"[{VIDEO_ID}].nl.vtt", f"[{VIDEO_ID}].nl.vtt"),
        # Only the last id-shaped tag (yt-dlp's) is kept; other brackets go as before.
        (f"Ep [1] [x] [oldOLDold00] [{VIDEO_ID}].vtt", f"Ep_1_x_oldOLDold00_[{VIDEO_ID}].vtt"),
        ("Title [short].md", "Title_short.md"),
        ("Title [twelve_chars].md", "Title_twelve_chars.md"),
        # The old guarantees hold around a tag: no directories, dots, or odd characters.
        (f"../../etc/[{VIDEO_ID}].md", f"[{VIDEO_ID}].md"),
        (f"..\\x\\..[{VIDEO_ID}]..md", f"[{VIDEO_ID}].md"),
        (f"[{VIDEO_ID}/../evil].md", "evil.md"),
        (f".hidden [{VIDEO_ID}].md", f"hidden_[{VIDEO_ID}].md"),
        (f"Über „AI”? [{VIDEO_ID}] <b>&amp;.md", f"Uber_AI_[{VIDEO_ID}]_b_amp.md"),
        (f"a\x00b [{VIDEO_ID}]\n.txt", f"a_b_[{VIDEO_ID}].txt"),
        (f"[{VIDEO_ID[:5]}\x00{VIDEO_ID[5:]}].md", f"{VIDEO_ID[:5]}_{VIDEO_ID[5:]}.md"),
    ],
)
def test_sanitize_filename_keeps_the_youtube_id(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected
    assert sanitize_filename(expected) == expected  # save_transcript insists on this


@pytest.mark.parametrize(
    "name",
    [
        "x" * 300 + f" [{VIDEO_ID}].nl.vtt",
        f"[{VIDEO_ID}]" + "y" * 300 + ".md",
        "x" * 300 + f" [{VIDEO_ID}]" + "." * 50 + "y" * 300 + ".srt",
    ],
)
def test_long_names_are_cut_but_keep_the_id(name: str) -> None:
    safe = sanitize_filename(name)
    stem = safe.rsplit(".", 1)[0]
    assert f"[{VIDEO_ID}]" in safe
    assert len(stem) <= MAX_STEM
    assert ".." not in safe and not safe.startswith(".")
    assert sanitize_filename(safe) == safe


def test_yt_dlp_upload_keeps_id_title_and_deep_links(tmp_path: Path) -> None:
    name = sanitize_filename(YT_DLP_NAME)
    saved = save_transcript(tmp_path, name, VTT.encode(), 1_000_000)
    assert saved.title == "Grok-3 daagt OpenAI uit"

    episode = parse_file(tmp_path / saved.name)
    assert episode.id == VIDEO_ID
    assert episode.url == f"https://www.youtube.com/watch?v={VIDEO_ID}"
    vandaag = episode.span_text(0, len(episode.words)).split().index("vandaag")
    assert episode.link(episode.time_at(vandaag)) == f"{episode.url}&t=65s"


def test_markdown_and_vtt_of_one_episode_share_an_id(tmp_path: Path) -> None:
    """The index drops a second file with an id it has seen, so the episode counts once."""
    md = save_transcript(tmp_path, "grok.md", MARKDOWN.encode(), 1_000_000)
    vtt = save_transcript(tmp_path, sanitize_filename(YT_DLP_NAME), VTT.encode(), 1_000_000)
    assert parse_file(tmp_path / md.name).id == parse_file(tmp_path / vtt.name).id == VIDEO_ID
