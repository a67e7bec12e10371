"""The evaluation's own numbers: key facts in the context, and bootstrap intervals."""

from __future__ import annotations

import pytest

from rag.answer import Answer, RetrievedFragment
from rag.evaluation import (
    CitationChecker,
    EvalItem,
    ItemResult,
    evaluate_item,
    format_headlines,
    format_intervals,
    format_paired,
    format_report,
    headline,
    headline_intervals,
    paired_differences,
    summarise,
)
from rag.types import Verdict


def test_eval_counts_key_facts_in_the_context_apart_from_the_answer(tmp_path):
    """`cfacts`: facts the retrieved fragments hold, whether or not the answer shows them."""
    (tmp_path / "ep.txt").write_text("intro over chips en ASML levert aan China", encoding="utf-8")
    facts = [["asml"], ["china"], ["nvidia"]]
    item = EvalItem("x", "vraag", True, ["ASML"], [20], facts, "fact", "lexical", "ep.txt")
    fragment = RetrievedFragment(1, "ep", "ep.txt", 11, 41, 1.0)
    answer = Answer("vraag", "Over ASML.", True, "extractive", [], [fragment], {"total": 1.0})
    result = evaluate_item(item, answer, CitationChecker(tmp_path))
    assert (result.facts_found, result.context_facts) == (1, 2)
    summary = summarise([result])
    assert summary.key_fact_coverage == pytest.approx(1 / 3)
    assert summary.context_fact_coverage == pytest.approx(2 / 3)
    assert "cfacts" in format_report(summary, {}, "extractive")
    row = headline("set", [result])
    assert row.context_facts == pytest.approx(2 / 3)
    assert "cfacts" in format_headlines([row])


def test_whole_counts_only_spans_with_every_word_in_one_fragment(tmp_path):
    """`recall` counts a span at least half inside a fragment; `whole` only a span
    wholly inside one (what a reader of the context needs to see the answer)."""
    (tmp_path / "ep.txt").write_text("a" * 200, encoding="utf-8")
    spans = ["x" * 40, "y" * 40, "z" * 40]
    item = EvalItem("w", "vraag", True, spans, [10, 100, 160], [], "multi", "lexical", "ep.txt")
    fragments = [
        RetrievedFragment(1, "ep", "ep.txt", 0, 60, 1.0),  # all of the first span
        # 25 of the second span's 40 characters, 10 of the third's
        RetrievedFragment(2, "ep", "ep.txt", 115, 170, 0.9),
    ]
    answer = Answer("vraag", "tekst", True, "extractive", [], fragments, {"total": 1.0})
    result = evaluate_item(item, answer, CitationChecker(tmp_path))
    assert result.span_ranks == [1, 2, None]
    assert result.spans_whole == [True, False, False]
    row = headline("set", [result])
    assert (row.recall, row.whole) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert "whole" in format_headlines([row])


def _item(i: int, answerable: bool, found_span: bool, found: bool = True) -> ItemResult:
    item = EvalItem(f"q{i}", "vraag", answerable, ["x"] if answerable else [], [0], [], "fact", "x")
    verdict = Verdict.FOUND if found else Verdict.NOT_FOUND
    answer = Answer("vraag", "tekst", found, "extractive", [], [], {"total": 1.0}, verdict=verdict)
    ranks: list[int | None] = ([1] if found_span else [None]) if answerable else []
    return ItemResult(item, answer, ranks, 0, 0, False)


def test_bootstrap_intervals_hold_the_estimate_and_keep_denominators():
    results = [_item(i, True, i < 14) for i in range(20)]  # recall 0.7
    results += [_item(100 + i, False, False, found=i >= 3) for i in range(6)]  # refused 0.5
    lo, hi = headline_intervals(results)["recall"]
    assert lo < 0.7 < hi and hi - lo < 0.6
    lo, hi = headline_intervals(results)["refused"]
    assert lo < 0.5 < hi  # unanswerable questions resampled among themselves
    assert headline_intervals(results) == headline_intervals(results)  # seeded

    certain = [_item(i, True, True) for i in range(10)]
    assert headline_intervals(certain)["recall"] == (1.0, 1.0)
    assert "refused" not in headline_intervals(certain)  # no unanswerable question: no rate
    assert "refused" not in headline_intervals(results, answers=False)  # baseline: retrieval only

    row = headline("test vraagbaak", results)
    row.intervals = headline_intervals(results)
    table = format_intervals([row])
    assert "95% intervals" in table and "test vraagbaak" in table
    assert format_intervals([headline("no intervals", results)]) == ""


def test_paired_differences_resample_the_same_questions_for_both():
    product = [_item(i, True, True) for i in range(12)] + [_item(50, False, False)]
    baseline = [_item(i, True, i % 2 == 0) for i in range(12)] + [_item(50, False, False)]
    diffs = paired_differences(product, baseline)
    value, lo, hi = diffs["recall"]
    assert value == pytest.approx(0.5) and 0.0 < lo <= value <= hi <= 1.0
    assert diffs["mrr"][0] == pytest.approx(0.5)
    same = paired_differences(product, product)["recall"]
    assert same == (0.0, 0.0, 0.0)  # paired: no spread when both agree on every question
    table = format_paired({"test": diffs})
    assert "+0.500" in table and "paired" in table
    with pytest.raises(ValueError):
        paired_differences(product, list(reversed(baseline)))
