"""Admin `/reindex` via the real bot: progress edits, summary, busy refusals, no lost questions."""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import (
    ROOT,
    BotProcess,
    bot_env,
    clean_environ,
    copy_corpus,
    reply_to,
    running_bot,
    start_bot,
)
from tg_emulator import SentMessage, TelegramEmulator

from bot import messages as msg
from rag.settings import Settings
from rag.transcripts import parse_file

pytestmark = pytest.mark.slow

ADMIN = 5151
EXTRA = "999_robots_in_de_zorg.md"
EXTRA_TITLE = "Robots in de zorg | AI Report"
CONCURRENT_QUESTIONS = 20
SAMPLE = ROOT / "data" / "transcripts" / "000_b98d99b2d30ef9a5.txt"
# Questions the sample answers, with words of the answer as the sample transcript says them.
# Each is answered (well above FOUND_SCORE) from the old index and from the one with EXTRA,
# with these words in the leading passage, so "niet besproken" is a failure, never a pass.
ANSWERED = {
    "Voor hoeveel geld zegt DeepSeek zijn model getraind te hebben?": "5,5 miljoen",
    "Op hoeveel gpu's werd de training run van grok 3 stabiel gekregen?": "100.000 gpu's",
    "Hoe heet de YouTube-video over AI die Wietse aanraadt?": "Veritasium",
    "Wat zei Sam Altman over het prijspunt van 200 dollar voor o1 Pro mode?": "niet genoeg",
}


def extra_transcript(sample: Path, words: int = 3000) -> str:
    """A new episode built from the sample's words: small, so embedding takes seconds."""
    episode = parse_file(sample)
    text = " ".join(episode.text[a:b] for a, b in episode.words[3000 : 3000 + words])
    return (
        f"# {EXTRA_TITLE}\n\n"
        "**Source:** [YouTube](https://www.youtube.com/watch?v=ROBOTS00001)\n"
        "**Video ID:** ROBOTS00001\n**Tags:** #robots #zorg\n\n---\n\n## Transcript\n\n"
        f"{text}\n"
    )


@pytest.fixture(scope="module")
def paths(sample_index: Settings, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bot-reindex")
    transcripts, index = copy_corpus(sample_index, base)
    [sample] = sorted(transcripts.iterdir())
    (transcripts / EXTRA).write_text(extra_transcript(sample), encoding="utf-8")
    (transcripts / "leeg.md").write_text("  \n", encoding="utf-8")
    return {"base": base, "transcripts": transcripts, "index": index}


@pytest.fixture(scope="module")
def bot(tg: TelegramEmulator, paths: dict[str, Path]) -> Iterator[BotProcess]:
    with running_bot(
        tg,
        paths["base"] / "bot.log",
        transcripts=paths["transcripts"],
        index=paths["index"],
        state=paths["base"] / "state",
        clean_exit=False,
        admin_user_ids=f"{ADMIN},5152",
    ) as process:
        yield process


def answered_questions(count: int) -> list[tuple[str, str]]:
    pairs = list(ANSWERED.items())
    return (pairs * (count // len(pairs) + 1))[:count]


def wait_for_summary(
    tg: TelegramEmulator, status: SentMessage, timeout: float = 180
) -> SentMessage:
    return tg.wait_for(
        lambda: (
            (m := tg.get_message(ADMIN, status.message_id)).text.startswith("Index bijgewerkt")
            and m
        ),
        timeout=timeout,
        description="the reindex summary",
    )


def test_reindex_reports_progress_keeps_answering_and_refuses_a_second_run(
    tg: TelegramEmulator, bot: BotProcess
) -> None:
    command = tg.inject_private_message("/reindex", user_id=ADMIN)
    status = reply_to(tg, command)
    assert status.text == msg.REINDEX_STARTED

    asked = answered_questions(CONCURRENT_QUESTIONS)
    questions = [
        tg.inject_private_message(question, user_id=6000 + i)
        for i, (question, _) in enumerate(asked)
    ]
    second = reply_to(tg, tg.inject_private_message("/reindex", user_id=5152))
    assert second.text == msg.REINDEX_BUSY

    answers = [reply_to(tg, update, timeout=180) for update in questions]
    done = wait_for_summary(tg, status)

    # Every question got its answer, cited, from the old index or the new one.
    assert len(answers) == CONCURRENT_QUESTIONS
    sample = SAMPLE.read_text(encoding="utf-8").lower()
    for (question, words), answer in zip(asked, answers, strict=True):
        assert words.lower() in sample  # what the episode says, not what the test hopes
        assert answer.parse_mode == "HTML"
        said = answer.text.split("\n\nBronnen\n")[0]
        # Lower case: answers spell the captions' "veritasium" as the lexicon does.
        assert words.lower() in said.lower(), (question, answer.text)
        assert "niet besproken" not in said and "\n\nBronnen\n" in answer.text
    # ... and at least one while the build was still running, from the old index.
    summary_at = done.current.timestamp
    assert min(a.current.timestamp for a in answers) < summary_at

    # One message counted up: progress versions, then the summary.
    versions = [v.text for v in done.history]
    progress = [t for t in versions if re.match(r"Index bijwerken… \d+/\d+ fragmenten", t)]
    assert progress, versions
    done_counts = [int(re.search(r"(\d+)/", t).group(1)) for t in progress]
    assert done_counts == sorted(done_counts)
    assert len(versions) == len(set(versions))  # no "message is not modified" edits
    text = done.text
    assert "Toegevoegd: 1 · bijgewerkt: 0 · verwijderd: 0 · overgeslagen: 1" in text
    assert f"• {EXTRA}" in text
    assert "• leeg.md: leeg bestand" in text
    assert "Nu 2 afleveringen" in text
    tg.assert_no_rejections()


def test_new_episode_is_live_after_the_swap(tg: TelegramEmulator, bot: BotProcess) -> None:
    listing = reply_to(tg, tg.inject_private_message("/afleveringen", user_id=6101))
    assert "Afleveringen in de vraagbaak (2)" in listing.text
    assert EXTRA_TITLE in listing.text
    stats = reply_to(tg, tg.inject_private_message("/stats", user_id=ADMIN))
    assert "Afleveringen: 2" in stats.text
    assert f"Vragen beantwoord: {CONCURRENT_QUESTIONS}" in stats.text


def test_reindex_without_changes_says_up_to_date(tg: TelegramEmulator, bot: BotProcess) -> None:
    status = reply_to(tg, tg.inject_private_message("/reindex", user_id=ADMIN))
    done = tg.wait_for(
        lambda: "al bijgewerkt" in (m := tg.get_message(ADMIN, status.message_id)).text and m,
        timeout=60,
    )
    assert "2 afleveringen" in done.text


def test_reindex_while_another_process_builds_is_refused(
    tg: TelegramEmulator, bot: BotProcess, paths: dict[str, Path]
) -> None:
    with (paths["index"] / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # e.g. `aireport index` in a shell
        status = reply_to(tg, tg.inject_private_message("/reindex", user_id=ADMIN))
        busy = tg.wait_for(
            lambda: (m := tg.get_message(ADMIN, status.message_id)).text == msg.REINDEX_BUSY and m,
            timeout=30,
        )
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert busy.edits
    # The flag was released: the next /reindex runs again.
    again = reply_to(tg, tg.inject_private_message("/reindex", user_id=ADMIN))
    assert again.text == msg.REINDEX_STARTED
    tg.wait_for(lambda: "al bijgewerkt" in tg.get_message(ADMIN, again.message_id).text, 60)


def test_first_start_without_an_index_builds_it_in_the_background(
    sample_index: Settings, tmp_path: Path
) -> None:
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    [sample] = sorted(sample_index.transcripts_dir.iterdir())
    (transcripts / EXTRA).write_text(extra_transcript(sample, words=600), encoding="utf-8")
    with TelegramEmulator() as tg:  # its own emulator: one poller per bot token
        env = bot_env(
            clean_environ(),
            tg,
            transcripts=transcripts,
            index=tmp_path / "index",
            state=tmp_path / "state",
            admin_user_ids=ADMIN,
        )
        process = start_bot(env, tg, tmp_path / "bot.log")
        try:
            busy = reply_to(tg, tg.inject_private_message("/reindex", user_id=ADMIN))
            assert busy.text == msg.REINDEX_BUSY
            early = reply_to(tg, tg.inject_private_message("Wat is Groq?", user_id=7001))
            assert early.text == msg.INDEX_MISSING_BUILDING
            tg.wait_for(lambda: "initial index built" in process.output(), timeout=120)
            listing = reply_to(tg, tg.inject_private_message("/afleveringen", user_id=7001))
            assert EXTRA_TITLE in listing.text
            tg.assert_no_rejections()
        finally:
            assert process.stop() == 0
