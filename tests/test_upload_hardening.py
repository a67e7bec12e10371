"""Uploads racing a reindex, yt-dlp file names keeping their YouTube id, and replacements
that are never silent: backups, confirmation of suspicious ones, names of their own."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bot import uploads
from bot.uploads import (
    BACKUP_DIR,
    MAX_BACKUPS,
    MAX_STEM,
    ConfirmationNeeded,
    sanitize_filename,
    save_transcript,
    upload_name,
)
from rag.transcripts import SUPPORTED_SUFFIXES, list_transcript_files, parse_file

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
    """So the upload asks before a second file of the episode is added (see below)."""
    md = save_transcript(tmp_path, "grok.md", MARKDOWN.encode(), 1_000_000)
    with pytest.raises(ConfirmationNeeded) as asked:
        save_transcript(tmp_path, sanitize_filename(YT_DLP_NAME), VTT.encode(), 1_000_000)
    assert parse_file(tmp_path / md.name).id == asked.value.plan.episode_id == VIDEO_ID


# ------------------------------------------------------------------ replacing a transcript


def episode_md(title: str, words: int, video_id: str | None = None, word: str = "woord") -> bytes:
    """A Markdown transcript of `words` words, with a Video ID when given."""
    header = f"# {title}\n\n" + (f"**Video ID:** {video_id}\n\n" if video_id else "")
    body = " ".join(f"{word}{i}" for i in range(words))
    return f"{header}## Transcript\n\n{body}\n".encode()


def backups_of(folder: Path, name: str) -> list[Path]:
    return sorted((folder / BACKUP_DIR).glob(f"{name}.*.bak"))


def test_a_replaced_transcript_is_kept_as_a_backup_that_is_never_indexed(tmp_path: Path) -> None:
    old = episode_md("Aflevering 1", 200)
    save_transcript(tmp_path, "Aflevering_1.md", old, 1_000_000)
    new = episode_md("Aflevering 1 (gecorrigeerd)", 180)
    saved = save_transcript(tmp_path, "Aflevering_1.md", new, 1_000_000)

    assert saved.replaced and saved.words == 180
    assert saved.previous is not None
    assert (saved.previous.title, saved.previous.words) == ("Aflevering 1", 200)
    [backup] = backups_of(tmp_path, "Aflevering_1.md")
    assert backup.read_bytes() == old
    assert saved.backup == f"{BACKUP_DIR}/{backup.name}"
    assert (tmp_path / "Aflevering_1.md").read_bytes() == new
    # The index reads list_transcript_files: the backup (and its folder) is not in it.
    assert list_transcript_files(tmp_path) == [tmp_path / "Aflevering_1.md"]
    assert not backup.name.endswith(SUPPORTED_SUFFIXES)


def test_backups_are_bounded_per_name(tmp_path: Path) -> None:
    save_transcript(tmp_path, "ander.md", episode_md("Ander", 50), 1_000_000)
    save_transcript(tmp_path, "ander.md", episode_md("Ander", 60), 1_000_000)
    versions = [episode_md("Aflevering", 100 + i) for i in range(MAX_BACKUPS + 3)]
    for data in versions:
        save_transcript(tmp_path, "ep.md", data, 1_000_000)
    kept = backups_of(tmp_path, "ep.md")
    assert len(kept) == MAX_BACKUPS
    # The newest previous versions are kept, and are told apart within one second.
    assert sorted(p.read_bytes() for p in kept) == sorted(versions[-MAX_BACKUPS - 1 : -1])
    assert len(backups_of(tmp_path, "ander.md")) == 1


def test_a_much_shorter_replacement_needs_confirmation(tmp_path: Path) -> None:
    good = episode_md("Aflevering 7", 400)
    save_transcript(tmp_path, "ep7.md", good, 1_000_000)
    wrong = episode_md("Aflevering 7", 5)  # five words pass the transcript check
    with pytest.raises(ConfirmationNeeded) as asked:
        save_transcript(tmp_path, "ep7.md", wrong, 1_000_000)
    plan = asked.value.plan
    assert plan.much_shorter and plan.previous.words == 400 and plan.words == 5
    assert (tmp_path / "ep7.md").read_bytes() == good
    assert not backups_of(tmp_path, "ep7.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep7.md"]  # no scratch left

    saved = save_transcript(tmp_path, "ep7.md", wrong, 1_000_000, confirmed=True)
    assert saved.replaced and saved.previous.words == 400
    assert [p.read_bytes() for p in backups_of(tmp_path, "ep7.md")] == [good]
    # Half or more of the words is an ordinary correction: no question asked.
    save_transcript(tmp_path, "ep8.md", episode_md("Aflevering 8", 100), 1_000_000)
    assert save_transcript(tmp_path, "ep8.md", episode_md("Aflevering 8", 50), 1_000_000).replaced


def test_an_identical_upload_changes_nothing(tmp_path: Path) -> None:
    data = episode_md("Aflevering 3", 100)
    save_transcript(tmp_path, "ep3.md", data, 1_000_000)
    again = save_transcript(tmp_path, "ep3.md", data, 1_000_000)
    assert again.unchanged and not again.replaced
    assert not (tmp_path / BACKUP_DIR).exists()


def test_emoji_only_names_get_a_name_of_their_own(tmp_path: Path) -> None:
    first, second = episode_md("Robots", 100), episode_md("Muziek", 120)
    names = [upload_name(n, d) for n, d in [("🤖.md", first), ("🎙️🎧.md", second)]]
    assert names[0] != names[1] and "transcript.md" not in names
    assert all(n == sanitize_filename(n) for n in names)
    assert upload_name("🤖.md", first) == names[0]  # stable: a resend is the same file
    assert upload_name("...md", first) == names[0]
    assert upload_name("🤖.pdf", first) is None
    for name, data in zip(names, [first, second], strict=True):
        assert not save_transcript(tmp_path, name, data, 1_000_000).replaced
    assert sorted(p.read_bytes() for p in list_transcript_files(tmp_path)) == sorted(
        [first, second]
    )
    # Names with something usable left keep it.
    assert upload_name("Aflevering 1 🤖.md", first) == "Aflevering_1.md"


def test_names_that_differ_in_unsafe_characters_report_the_replacement(tmp_path: Path) -> None:
    first, second = episode_md("Aflevering 1", 300), episode_md("Aflevering 1 (nieuw)", 250)
    name = upload_name("Aflevering 1.md", first)
    assert upload_name("Aflevering?1.md", second) == name
    save_transcript(tmp_path, name, first, 1_000_000)
    saved = save_transcript(tmp_path, name, second, 1_000_000)
    assert saved.replaced and saved.previous.words == 300 and saved.words == 250
    assert [p.read_bytes() for p in backups_of(tmp_path, name)] == [first]


def test_the_same_episode_under_another_name_needs_confirmation(tmp_path: Path) -> None:
    md = save_transcript(tmp_path, "grok.md", MARKDOWN.encode(), 1_000_000)
    vtt_name = sanitize_filename(YT_DLP_NAME)
    with pytest.raises(ConfirmationNeeded) as asked:
        save_transcript(tmp_path, vtt_name, VTT.encode(), 1_000_000)
    plan = asked.value.plan
    assert plan.episode_id == VIDEO_ID and plan.previous is None
    assert [(f.name, f.episode_id) for f in plan.same_episode] == [(md.name, VIDEO_ID)]
    assert sorted(p.name for p in list_transcript_files(tmp_path)) == ["grok.md"]

    # Confirmed: the upload becomes the episode's only file; the other one is backed up.
    saved = save_transcript(tmp_path, vtt_name, VTT.encode(), 1_000_000, confirmed=True)
    [moved] = saved.moved
    assert moved.info.name == "grok.md" and moved.backup.startswith(f"{BACKUP_DIR}/grok.md.")
    assert [p.name for p in list_transcript_files(tmp_path)] == [vtt_name]
    assert (tmp_path / moved.backup).read_bytes() == MARKDOWN.encode()


def test_a_slug_id_shared_by_two_names_is_the_same_episode(tmp_path: Path) -> None:
    """Without a video id, `Aflevering_1.md` and `aflevering-1.md` are both `aflevering-1`."""
    save_transcript(tmp_path, "Aflevering_1.md", episode_md("Een", 100), 1_000_000)
    with pytest.raises(ConfirmationNeeded) as asked:
        save_transcript(tmp_path, "aflevering-1.md", episode_md("Twee", 100), 1_000_000)
    assert [f.name for f in asked.value.plan.same_episode] == ["Aflevering_1.md"]


def test_another_episode_under_the_same_name_needs_confirmation(tmp_path: Path) -> None:
    save_transcript(tmp_path, "ep.md", episode_md("Een", 100, "AAAAAAAAAAA"), 1_000_000)
    with pytest.raises(ConfirmationNeeded) as asked:
        save_transcript(tmp_path, "ep.md", episode_md("Twee", 100, "BBBBBBBBBBB"), 1_000_000)
    plan = asked.value.plan
    assert plan.other_episode and plan.previous.episode_id == "AAAAAAAAAAA"


def test_pending_uploads_are_the_uploaders_expire_and_are_bounded(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(uploads.time, "monotonic", lambda: now[0])
    pending = uploads.PendingUploads()
    token = pending.add(uploads.PendingUpload(1, "a.md", b"x", 10))
    assert pending.take(token, user_id=2) is None  # another admin's button press
    assert pending.take(token, user_id=1).name == "a.md"
    assert pending.take(token, user_id=1) is None  # a second press

    token = pending.add(uploads.PendingUpload(1, "b.md", b"x", 10))
    now[0] += uploads.UPLOAD_CONFIRM_SECONDS + 1
    assert pending.take(token, user_id=1) is None

    tokens = [pending.add(uploads.PendingUpload(1, f"{i}.md", b"x", 10)) for i in range(6)]
    assert pending.take(tokens[0], user_id=1) is None  # the oldest made room
    assert pending.take(tokens[-1], user_id=1).name == "5.md"
