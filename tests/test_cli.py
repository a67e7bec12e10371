"""The `aireport` CLI end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import DEV_SET, make_settings, sample_words, write_md_episode

from rag import messages_nl as nl


def aireport(settings, *args: str, env: dict, stdin: str | None = None, verbose: bool = False):
    command = [
        sys.executable,
        "-m",
        "rag.cli",
        "--transcripts-dir",
        str(settings.transcripts_dir),
        "--index-dir",
        str(settings.index_dir),
    ]
    if verbose:
        command.append("-v")
    return subprocess.run(
        [*command, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ask_json_contract(sample_index, clean_env):
    result = aireport(
        sample_index, "ask", "--json", "Wat is het verschil tussen Groq en Grok?", env=clean_env
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["question"] == "Wat is het verschil tussen Groq en Grok?"
    assert data["found"] is True and data["mode"] == "extractive"
    assert data["verdict"] in ("found", "unsure")
    assert data["citations"] and data["citations"][0]["n"] == 1
    assert data["retrieved"][0]["rank"] == 1
    assert data["timings_ms"]["total"] >= data["timings_ms"]["retrieve"]


def test_ask_questions_file_prints_json_lines_in_order(sample_index, clean_env, tmp_path: Path):
    questions = [
        "wie deed de edit van deze aflevering?",
        "Wat kost een Claude Pro-abonnement per maand?",
        "Sinds wanneer heeft het bedrijf van Rick al chips ontwikkeld?",
    ]
    file = tmp_path / "vragen.txt"
    file.write_text("\n".join(questions[:2]) + "\n\n" + questions[2] + "\n", encoding="utf-8")
    result = aireport(
        sample_index, "ask", "--json", "--questions-file", str(file), env=clean_env, verbose=True
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == questions
    assert result.stderr.count("index loaded") == 1


def test_ask_questions_file_takes_a_question_set_in_json_lines(
    sample_index, clean_env, tmp_path: Path
):
    """A question set like eval/dev.jsonl is asked by its "question" fields, and each
    result carries the item's id; a byte-order mark does not end up in the question."""
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()[:3]]
    file = tmp_path / "set.jsonl"
    text = "\n".join(json.dumps(item, ensure_ascii=False) for item in items) + "\n"
    file.write_text("\ufeff" + text, encoding="utf-8")
    result = aireport(sample_index, "ask", "--json", "--questions-file", str(file), env=clean_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == [item["question"] for item in items]
    assert [r["id"] for r in rows] == [item["id"] for item in items]
    assert all(r["verdict"] in ("found", "unsure", "not_found") for r in rows)


def test_unreadable_question_files_get_a_message_not_a_traceback(
    sample_index, clean_env, tmp_path: Path
):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "Wat is Groq?"}\n{"vraag": "zonder veld"}\n', encoding="utf-8")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Wat vindt Wietse van caf\u00e9s?\n".encode("cp1252"))
    cases = [
        (("ask", "--questions-file", str(tmp_path / "missing.txt")), "missing.txt"),
        (("ask", "--json", "--questions-file", str(broken)), "broken.jsonl, line 2"),
        (("ask", "--questions-file", str(latin)), "UTF-8"),
        (("eval", str(tmp_path / "missing.jsonl")), "missing.jsonl"),
        (("eval", str(broken)), "broken.jsonl, line 2"),
        (("eval", str(broken), "--first-unit-words", "-20"), "not a number of words: '-20'"),
    ]
    for args, expected in cases:
        result = aireport(sample_index, *args, env=clean_env)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert result.stdout == "", args  # nothing asked before the whole file is read


def test_ask_plain_text_shows_sources(sample_index, clean_env):
    result = aireport(sample_index, "ask", "Wie deed de edit van deze aflevering?", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "Bronnen:" in result.stdout and "[1]" in result.stdout
    assert "https://www.youtube.com/watch?v=xDCa0xgymMY" in result.stdout
    # The edit credit is in the closing words: no times in captions, so a position.
    assert re.search(r"\[1\] .* \(rond (9\d|100)% van de aflevering\)", result.stdout)


def test_index_reports_and_is_incremental(tmp_path: Path, clean_env):
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    write_md_episode(transcripts, "een.md", "eeeeeeeeeee", "Aflevering een", 120)
    (transcripts / "kapot.md").write_bytes(b"\x00\x01binary")
    settings = make_settings(transcripts, tmp_path / "index")
    first = aireport(settings, "index", env=clean_env)
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stdout and "1 skipped" in first.stdout
    assert "kapot.md: binair bestand" in first.stdout
    second = aireport(settings, "index", env=clean_env)
    assert "up to date" in second.stdout


def test_ask_builds_missing_index_first(tmp_path: Path, clean_env):
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    write_md_episode(transcripts, "een.md", "eeeeeeeeeee", "Aflevering een", 150, 13000)
    settings = make_settings(transcripts, tmp_path / "index")
    result = aireport(settings, "ask", "--json", "waar ging het over?", env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "No index yet" in result.stderr
    assert json.loads(result.stdout)["question"] == "waar ging het over?"
    assert (tmp_path / "index" / "CURRENT").is_file()


def test_chat_answers_and_exits_on_eof(sample_index, clean_env):
    result = aireport(
        sample_index,
        "chat",
        env=clean_env,
        stdin="Wat is mixture of experts eigenlijk?\nen hoe werkt dat dan?\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("vraag> ") == 3
    assert result.stdout.count("Bronnen:") >= 1


def test_chat_keeps_small_talk_out_of_the_conversation(sample_index, clean_env):
    # "bedankt!" between a question and "meer": "meer" is more on the question, as in the
    # bot, where small talk is not kept either.
    question = "Wat is mixture of experts eigenlijk?\n"
    chats = [
        aireport(sample_index, "chat", env=clean_env, stdin=question + between + "meer\n")
        for between in ("bedankt!\n", "")
    ]
    assert all(chat.returncode == 0 for chat in chats), chats[0].stderr
    assert nl.SMALL_TALK_THANKS in chats[0].stdout
    more = [chat.stdout.rsplit("vraag> ", 2)[1] for chat in chats]  # the answer to "meer"
    assert more[0].startswith(nl.EXTRACTIVE_MORE_INTRO) and more[0] == more[1]


def test_eval_reports_metrics(sample_index, clean_env, tmp_path: Path):
    subset = tmp_path / "mini.jsonl"
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    subset.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    result = aireport(sample_index, "eval", str(subset), "--json", env=clean_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    overall = report["sets"]["mini"]["overall"]
    assert overall["n"] == 3
    assert 0.0 <= overall["recall"] <= 1.0
    assert overall["refusal_rate"] is not None  # item 2 is unanswerable
    (headline,) = report["headlines"]
    assert headline["label"] == "mini vraagbaak" and headline["recall"] == overall["recall"]


def test_eval_measures_recall_at_several_context_budgets(sample_index, clean_env, tmp_path: Path):
    """`--budgets` asks the same questions with each context size; its 1,500-word recall
    is the headline's (the default context), and the first set's spans come per fold."""
    subset = tmp_path / "mini.jsonl"
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    subset.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    result = aireport(
        sample_index,
        "eval",
        str(subset),
        "--budgets",
        "150,1500",
        "--folds",
        "2",
        "--json",
        env=clean_env,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    budgets = report["budgets"]["mini"]
    assert sorted(budgets) == ["150", "1500"]
    assert budgets["1500"]["recall"] == report["sets"]["mini"]["overall"]["recall"]
    assert budgets["150"]["recall"] <= budgets["1500"]["recall"]
    assert len(budgets["150"]["spans_per_fold"]) == 2
    for cell in budgets.values():
        assert sum(cell["spans_per_fold"]) == round(cell["recall"] * cell["spans"])
        assert cell["whole"] <= cell["recall"]  # wholly inside one fragment: the stricter count
    (row,) = [h for h in report["headlines"] if h["label"] == "mini vraagbaak"]
    assert budgets["1500"]["whole"] == row["whole"]
    text = aireport(sample_index, "eval", str(subset), "--budgets", "150,1500", env=clean_env)
    assert text.returncode == 0, text.stderr
    assert re.search(r"recall by words of context", text.stdout)
    assert re.search(r"^mini whole +[0-9.]+ +[0-9.]+$", text.stdout, re.M)
    bad = aireport(sample_index, "eval", str(subset), "--budgets", "150,abc", env=clean_env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_missing_question_is_a_usage_error(sample_index, clean_env):
    result = aireport(sample_index, "ask", env=clean_env)
    assert result.returncode == 2 and "give a question" in result.stderr


def test_index_dir_copy_is_usable(sample_index, clean_env, tmp_path: Path):
    """An index folder is plain files: copying it gives a working index elsewhere."""
    copy = tmp_path / "index-copy"
    shutil.copytree(sample_index.index_dir, copy)
    settings = make_settings(sample_index.transcripts_dir, copy)
    result = aireport(settings, "ask", "--json", "wie deed de edit?", env=clean_env)
    assert result.returncode == 0 and json.loads(result.stdout)["found"] is True


def test_terminal_sources_say_where_as_the_bot_does():
    """A caption's time is the start of the cue the quote begins in, so the terminal says
    "rond 12:34" as the bot does, not "op 12:34"; without times, how far in."""
    from rag.answer import Answer, Citation
    from rag.cli import format_sources
    from rag.types import AnswerMode

    def cite(n: int, start_time: float | None, position: float | None) -> Citation:
        return Citation(n, "ep", "Aflevering", None, "ep.vtt", 0, 5, start_time, "tekst", position)

    answer = Answer("vraag", "antwoord [1] [2]", True, AnswerMode.EXTRACTIVE, [], [], {})
    answer.citations = [cite(1, 754.2, 0.4), cite(2, None, 0.274)]
    lines = format_sources(answer)
    assert "[1] Aflevering (rond 12:34)" in lines
    assert "[2] Aflevering (rond 27% van de aflevering)" in lines


def test_eval_measures_again_with_the_units_cut_elsewhere(tmp_path: Path, clean_env):
    """`--first-unit-words N` builds a second index whose units are cut N words into
    each episode and every 40 words after, and asks the same questions on it: a choice
    that only wins where the cuts happen to fall shows up as a gap between the rows."""
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    path = write_md_episode(transcripts, "een.md", "eeeeeeeeeee", "Aflevering een", 300, 13000)
    source = path.read_text(encoding="utf-8")
    items = []
    for n, start in enumerate((13030, 13150)):
        evidence = " ".join(sample_words()[start : start + 15])
        items.append(
            {"id": f"c{n}", "question": evidence, "evidence": [evidence]}
            | {"offset": [source.index(evidence)], "source_file": "een.md"}
        )
    questions = tmp_path / "mini.jsonl"
    questions.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    settings = make_settings(transcripts, tmp_path / "index")
    cache = tmp_path / "cache"
    args = ("eval", str(questions), "--first-unit-words", "20", "--cache-dir", str(cache))
    result = aireport(settings, *args, "--json", env=clean_env)
    assert result.returncode == 0, result.stderr
    rows = {h["label"]: h for h in json.loads(result.stdout)["headlines"]}
    assert sorted(rows) == ["mini cut20 vraagbaak", "mini vraagbaak"]
    assert rows["mini cut20 vraagbaak"]["n"] == 2
    from rag.service import AnswerService

    recut = AnswerService(make_settings(transcripts, cache / "index-first20"))
    assert recut.load() and recut.index is not None
    assert [u.first_word for u in recut.index.units[:3]] == [0, 20, 60]
    assert recut.index.manifest["chunker"]["first_unit_words"] == 20
    text = aireport(settings, *args, env=clean_env)
    assert re.search(r"^mini cut20 vraagbaak +2 ", text.stdout, re.M), text.stdout
    assert "cut20: the units cut 20 words into each episode" in text.stdout
