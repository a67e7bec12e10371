"""Transcript uploads that replace something, through the real bot and the Bot API emulator.

Nothing is replaced silently: the admin is told what an upload replaced (old and new word
counts, where the backup is), is asked first when it looks like a mistake, and names made
only of emoji never land on one generic name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import BotProcess, reply_to, running_bot
from tg_emulator import SentMessage, TelegramEmulator

from bot import messages as msg
from bot.uploads import BACKUP_DIR

pytestmark = pytest.mark.slow

ADMIN = 7373
VIDEO_ID = "xDCa0xgymMY"


def episode_md(title: str, words: int, video_id: str | None = None) -> bytes:
    header = f"# {title}\n\n" + (f"**Video ID:** {video_id}\n\n" if video_id else "")
    body = " ".join(f"woord{i}" for i in range(words))
    return f"{header}## Transcript\n\n{body}\n".encode()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("bot-uploads")
    transcripts = base / "transcripts"
    transcripts.mkdir()
    # A tiny corpus: the index the bot builds at start takes a moment, not a minute.
    (transcripts / "basis.md").write_bytes(episode_md("Basis", 60))
    return transcripts


@pytest.fixture(scope="module")
def bot(tg: TelegramEmulator, folder: Path) -> Iterator[BotProcess]:
    base = folder.parent
    with running_bot(
        tg,
        base / "bot.log",
        transcripts=folder,
        index=base / "index",
        state=base / "state",
        admin_user_ids=ADMIN,
    ) as process:
        yield process


def upload(tg: TelegramEmulator, name: str, data: bytes) -> SentMessage:
    return reply_to(tg, tg.inject_document(name, data, user_id=ADMIN))


def press(tg: TelegramEmulator, question: SentMessage, button: str, expect: str) -> SentMessage:
    """Press a button of the bot's question and wait for the question to be edited."""
    tg.inject_callback_query(ADMIN, question.message_id, button_text=button, user_id=ADMIN)
    return tg.wait_for(
        lambda: (
            expect in (m := tg.get_message(ADMIN, question.message_id)).text and not m.buttons and m
        ),
        timeout=20,
        description=f"the question edited to {expect!r}",
    )


def backups(folder: Path, name: str) -> list[Path]:
    return sorted((folder / BACKUP_DIR).glob(f"{name}.*.bak"))


def test_a_replacement_is_reported_with_word_counts_and_the_backup(
    tg: TelegramEmulator, bot: BotProcess, folder: Path
) -> None:
    first, second = episode_md("Aflevering 1", 1300), episode_md("Aflevering 1, herzien", 1250)
    reply = upload(tg, "Aflevering 1.md", first)
    assert "opgeslagen als Aflevering_1.md" in reply.text and "vervangt" not in reply.text

    # Another name that sanitises to the same file: a replacement, and it says so.
    reply = upload(tg, "Aflevering?1.md", second)
    [backup] = backups(folder, "Aflevering_1.md")
    assert "opgeslagen als Aflevering_1.md" in reply.text
    assert (
        "Dit vervangt het bestaande Aflevering_1.md (aflevering „Aflevering 1”, 1.300 woorden; "
        f"nu 1.250). De vorige versie is bewaard als {BACKUP_DIR}/{backup.name}." in reply.text
    )
    assert "/reindex" in reply.text
    assert backup.read_bytes() == first
    assert (folder / "Aflevering_1.md").read_bytes() == second
    tg.assert_no_rejections()


def test_a_much_shorter_file_is_only_saved_when_confirmed(
    tg: TelegramEmulator, bot: BotProcess, folder: Path
) -> None:
    good, wrong = episode_md("Lange aflevering", 2400), episode_md("Lange aflevering", 5)
    upload(tg, "lang.md", good)

    question = upload(tg, "lang.md", wrong)
    assert question.text.startswith("Eerst bevestigen: het transcript lang.md")
    assert "veel korter dan het bestaande lang.md" in question.text
    assert "2.400 woorden" in question.text
    assert [b["text"] for b in question.buttons] == ["Vervangen", "Annuleren"]
    assert (folder / "lang.md").read_bytes() == good

    cancelled = press(tg, question, "Annuleren", "Niet opgeslagen")
    assert cancelled.text == "Niet opgeslagen: lang.md. Er is niets veranderd."
    assert (folder / "lang.md").read_bytes() == good and not backups(folder, "lang.md")

    question = upload(tg, "lang.md", wrong)
    done = press(tg, question, "Vervangen", "opgeslagen als lang.md")
    assert "2.400 woorden; nu 5)" in done.text
    assert (folder / "lang.md").read_bytes() == wrong
    assert [p.read_bytes() for p in backups(folder, "lang.md")] == [good]

    # A button of a question already answered (or from before a restart) does nothing.
    tg.inject_callback_query(
        ADMIN, question.message_id, question.callback_data[0], user_id=ADMIN, check_button=False
    )
    tg.wait_for(
        lambda: any(a.text == msg.UPLOAD_CONFIRM_EXPIRED for a in tg.callback_answers()),
        timeout=20,
    )
    assert (folder / "lang.md").read_bytes() == wrong
    tg.assert_no_rejections()


def test_emoji_only_names_do_not_overwrite_each_other(
    tg: TelegramEmulator, bot: BotProcess, folder: Path
) -> None:
    robots, muziek = episode_md("Robots", 300), episode_md("Muziek", 320)
    replies = [upload(tg, "🤖.md", robots), upload(tg, "🎙️🎧.md", muziek)]
    names = [r.text.split("opgeslagen als ")[1].split(" ")[0] for r in replies]
    assert all(n.startswith("transcript-") and n.endswith(".md") for n in names)
    assert names[0] != names[1]
    assert not any("vervangt" in r.text for r in replies)
    assert [(folder / n).read_bytes() for n in names] == [robots, muziek]
    assert not (folder / "transcript.md").exists()


def test_the_same_episode_under_another_name_is_confirmed_and_the_old_file_moved(
    tg: TelegramEmulator, bot: BotProcess, folder: Path
) -> None:
    upload(tg, "grok.md", episode_md("Grok-3 daagt OpenAI uit", 800, VIDEO_ID))
    vtt = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n"
        b"welkom bij AI report de podcast over kunstmatige intelligentie\n"
    )
    question = upload(tg, f"Grok-3 daagt OpenAI uit [{VIDEO_ID}].nl.vtt", vtt)
    assert (
        f"Deze aflevering (id {VIDEO_ID}) staat al in de map als grok.md (800 woorden)"
        in question.text
    )
    assert (folder / "grok.md").exists()
    done = press(tg, question, "Vervangen", "opgeslagen als")
    assert f"opgeslagen als Grok-3_daagt_OpenAI_uit_[{VIDEO_ID}].nl.vtt" in done.text
    [backup] = backups(folder, "grok.md")
    assert "grok.md bevatte dezelfde aflevering (800 woorden) en is verplaatst naar " in done.text
    assert f"{BACKUP_DIR}/{backup.name}" in done.text
    assert not (folder / "grok.md").exists()
    tg.assert_no_rejections()
