"""The bot's small parts: state store, access policy, uploads, start-up choices, log redaction."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
from pathlib import Path

import pytest

from bot import messages as msg
from bot.access import AccessPolicy, code_fingerprint
from bot.examples import example_questions, topics
from bot.logs import REDACTED, RedactingFilter, token_secrets
from bot.settings import BotSettings
from bot.startup import StartupError, bot_token, file_base_url, webhook_config
from bot.state import KEEP_ANSWERS_PER_CHAT, StateStore
from bot.stats import Stats, percentile
from bot.uploads import sanitize_filename, save_transcript
from rag.answer import Answer, Citation
from rag.service import Turn
from rag.transcripts import TranscriptError

TOKEN = "1234567890:AAEabcdefghijklmnopqrstuvwxyz_-0123"
TRANSCRIPT = (
    "# Aflevering over robots | AI Report\n\n**Video ID:** ROBOTS00001\n\n## Transcript\n\n"
    + "we praten vandaag over robots en taalmodellen en wat ze voor ons werk betekenen " * 5
)


def settings(**values) -> BotSettings:
    return BotSettings(_env_file=None, **values)


def answer(question: str, text: str, citations: int = 1) -> Answer:
    return Answer(
        question=question,
        text=text,
        found=citations > 0,
        mode="extractive",
        citations=[
            Citation(n, "ep", f"Titel {n}", "https://youtu.be/x", "a.md", 0, 10, None, f"quote {n}")
            for n in range(1, citations + 1)
        ],
        retrieved=[],
        timings_ms={"total": 1.0},
    )


# ------------------------------------------------------------------------- state store


def test_stored_citations_keep_their_position_and_older_rows_still_load(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = StateStore(path).open()
    stored = answer("vraag", "antwoord [1]")
    stored.citations[0].position = 0.5472
    new = store.add_answer(10, stored)
    old = store.add_answer(10, answer("oud", "antwoord [1]"))
    store.close()
    with sqlite3.connect(path) as db:  # a row written before citations had a position
        citations = json.loads(
            db.execute("SELECT citations FROM answers WHERE id = ?", (old,)).fetchone()[0]
        )
        for c in citations:
            del c["position"]
        db.execute("UPDATE answers SET citations = ? WHERE id = ?", (json.dumps(citations), old))
    store = StateStore(path).open()
    kept, older = store.get_answer(10, new), store.get_answer(10, old)
    assert kept is not None and kept.citations[0].position == 0.5472
    assert older is not None and older.citations[0].position is None
    assert older.citations[0].quote == "quote 1"
    store.close()


def test_state_keeps_history_answers_and_subscribers_across_reopen(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "bot.sqlite3").open()
    first = store.add_answer(10, answer("vraag 1", "antwoord 1 [1]"))
    store.add_answer(10, answer("vraag 2", "antwoord 2 [1]"))
    store.add_answer(20, answer("andere chat", "x", citations=0))
    store.unlock(77, "fingerprint")
    store.close()

    store = StateStore(tmp_path / "bot.sqlite3").open()
    assert store.history(10, 3) == [
        Turn("vraag 1", "antwoord 1 [1]"),
        Turn("vraag 2", "antwoord 2 [1]"),
    ]
    assert store.history(10, 1) == [Turn("vraag 2", "antwoord 2 [1]")]
    assert store.last_answer(10).question == "vraag 2"
    stored = store.get_answer(10, first)
    assert stored.citations[0].quote == "quote 1"
    assert store.get_answer(20, first) is None  # another chat's answer stays private
    assert store.subscribers() == {77: "fingerprint"}
    store.close()


def test_store_prunes_old_answers_per_chat(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db").open()
    ids = [store.add_answer(10, answer(f"v{i}", "a")) for i in range(KEEP_ANSWERS_PER_CHAT + 5)]
    assert store.get_answer(10, ids[0]) is None
    assert store.get_answer(10, ids[-1]) is not None
    store.close()


# ------------------------------------------------------------------------- access


def test_open_bot_without_allowlist_or_codes() -> None:
    policy = AccessPolicy(admins=[1], allowed=[], codes=[])
    assert policy.may_ask(12345)
    assert not policy.is_admin(12345)
    assert policy.is_admin(1)


def test_allowlist_admits_listed_users_and_admins_only() -> None:
    policy = AccessPolicy(admins=[1], allowed=[2], codes=[])
    assert policy.may_ask(1) and policy.may_ask(2)
    assert not policy.may_ask(3)
    assert not policy.may_ask(None)
    assert policy.refusal() == msg.NOT_ALLOWED


def test_subscriber_codes_unlock_users() -> None:
    fingerprint = code_fingerprint("nieuwsbrief2025")
    policy = AccessPolicy(
        admins=[1], allowed=[], codes=["nieuwsbrief2025"], subscribers={5: fingerprint}
    )
    assert policy.may_ask(5)
    assert not policy.may_ask(6)
    assert policy.valid_code("nieuwsbrief2025")
    assert not policy.valid_code("nieuwsbrief")
    assert not policy.valid_code("")
    assert policy.refusal() == msg.LOCKED


# ------------------------------------------------------------------------- uploads


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aflevering 12.md", "aflevering_12.md"),
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\evil.VTT", "evil.vtt"),
        ("/absolute/path/ep.srt", "ep.srt"),
        (".hidden.md", "hidden.md"),
        ("...md", "transcript.md"),
        ("a\x00b\n.txt", "a_b.txt"),
        ("Über AI: „nieuws”?.md", "Uber_AI_nieuws.md"),
        ("<script>alert(1)</script>.md", "script.md"),  # "/" is a directory separator
        ("<b>&amp;'\"x.md", "b_amp_x.md"),
        ("x" * 300 + ".md", "x" * 120 + ".md"),
        ("ep.12.nl.vtt", "ep.12.nl.vtt"),
        ("ep..md", "ep.md"),
        ("report.pdf", None),
        ("no_extension", None),
        (None, None),
        ("evil.md/", None),
    ],
)
def test_sanitize_filename(name, expected) -> None:
    assert sanitize_filename(name) == expected


def test_save_transcript_validates_before_replacing(tmp_path: Path) -> None:
    folder = tmp_path / "transcripts"
    saved = save_transcript(folder, "robots.md", TRANSCRIPT.encode(), 1_000_000)
    assert saved.title == "Aflevering over robots | AI Report"
    assert saved.words >= 50 and not saved.replaced
    good = (folder / "robots.md").read_bytes()

    for bad, code in [
        (b"\x00\x01binary\x00", "binary"),
        (b"   ", "empty"),
        (b"\xff\xfe\xfa", "not_utf8"),
    ]:
        with pytest.raises(TranscriptError) as caught:
            save_transcript(folder, "robots.md", bad, 1_000_000)
        assert caught.value.code == code
    with pytest.raises(TranscriptError, match="too_large"):
        save_transcript(folder, "robots.md", TRANSCRIPT.encode(), 100)
    assert (folder / "robots.md").read_bytes() == good
    assert [p.name for p in folder.iterdir()] == ["robots.md"]  # no scratch files left

    again = save_transcript(folder, "robots.md", TRANSCRIPT.encode() + b" extra", 1_000_000)
    assert again.replaced


def test_save_transcript_refuses_unsanitised_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_transcript(tmp_path, "../escape.md", TRANSCRIPT.encode(), 1_000_000)
    assert not (tmp_path.parent / "escape.md").exists()


def test_vtt_upload_gets_its_title_from_the_final_name(tmp_path: Path) -> None:
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n" + "hallo dit is een test van de vraagbaak\n"
    saved = save_transcript(tmp_path, "Robots_en_AI.vtt", vtt.encode(), 1_000_000)
    assert saved.title == "Robots en AI"


# ------------------------------------------------------------------------- start-up


def test_token_missing_or_malformed_gives_a_clear_error() -> None:
    with pytest.raises(StartupError, match="ontbreekt.*\n.*missing"):
        bot_token(settings())
    with pytest.raises(StartupError, match="ontbreekt"):
        bot_token(settings(telegram_bot_token="  "))
    for bad in ["123:abc", "abc:" + "x" * 35, "12345:" + "x" * 29, "12345:" + "x" * 30 + "!"]:
        with pytest.raises(StartupError, match="does not look like"):
            bot_token(settings(telegram_bot_token=bad))
    assert bot_token(settings(telegram_bot_token=f" {TOKEN} ")) == TOKEN


def test_file_base_url_follows_the_api_base_url() -> None:
    assert file_base_url(settings()) == "https://api.telegram.org/file/bot"
    local = settings(telegram_api_base_url="http://127.0.0.1:8081/bot")
    assert file_base_url(local) == "http://127.0.0.1:8081/file/bot"
    explicit = settings(telegram_file_base_url="http://files.local/file/bot")
    assert file_base_url(explicit) == "http://files.local/file/bot"


def test_polling_unless_webhook_url_is_set() -> None:
    assert webhook_config(settings(), TOKEN) is None
    assert webhook_config(settings(webhook_url=""), TOKEN) is None
    config = webhook_config(
        settings(webhook_url="https://bot.example.nl/", webhook_port=8443), TOKEN
    )
    assert config is not None
    assert config.webhook_url == f"https://bot.example.nl/{config.url_path}"
    assert config.port == 8443 and config.listen == "0.0.0.0"
    assert TOKEN not in config.webhook_url
    assert TOKEN.partition(":")[2] not in config.webhook_url
    assert len(config.secret_token) >= 32
    other = webhook_config(settings(webhook_url="https://bot.example.nl"), TOKEN)
    assert other.url_path == config.url_path  # stable path for a reverse proxy
    assert other.secret_token != config.secret_token  # fresh secret per start


# ------------------------------------------------------------------------- logging


def test_redacting_filter_scrubs_messages_args_and_tracebacks() -> None:
    records: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(RedactingFilter(token_secrets(TOKEN)))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot%s/getMe", TOKEN)
        logger.warning("secret half %s", TOKEN.partition(":")[2])
        try:
            raise RuntimeError(f"failed url /bot{TOKEN}/sendMessage")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    output = "\n".join(records)
    assert TOKEN not in output
    assert TOKEN.partition(":")[2] not in output
    assert output.count(REDACTED) == 3
    assert "RuntimeError" in output


# ------------------------------------------------------------------------- stats, examples


def test_percentiles_and_stats() -> None:
    assert percentile([], 50) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    stats = Stats()
    stats.record(True, 100)
    stats.record(False, 300)
    snapshot = stats.snapshot()
    assert (snapshot.questions, snapshot.not_found) == (2, 1)
    assert snapshot.p50_ms == 100 and snapshot.p95_ms == 300


def test_example_questions_come_from_episode_titles(service) -> None:
    found = topics(service.index)
    assert "NYT omarmt AI" in found
    assert not any(t == "AI Report" for t in found)
    questions = example_questions(service.index, 3, random.Random(1))
    assert len(questions) == 3
    assert all(q.startswith("Wat zeiden ze over „") for q in questions)
    assert example_questions(None, 3) == list(msg.EXAMPLE_FALLBACKS)
