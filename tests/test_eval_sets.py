"""The question sets: verbatim evidence at its offsets, fields, quotas, a clean split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rag.transcripts import read_source_text

ROOT = Path(__file__).resolve().parent.parent
SETS = {name: ROOT / "eval" / f"{name}.jsonl" for name in ("dev", "test")}
CATEGORIES = {"fact", "explain", "opinion", "meta", "webinar", "multi"}
STYLES = {"lexical", "paraphrase", "asr_name"}


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in SETS[name].read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", sorted(SETS))
def test_evidence_stands_verbatim_at_its_offsets(name):
    for item in load(name):
        text = read_source_text(ROOT / "data" / "transcripts" / item["source_file"])
        assert len(item["evidence"]) == len(item["offset"]), item["id"]
        for evidence, offset in zip(item["evidence"], item["offset"], strict=True):
            assert text[offset : offset + len(evidence)] == evidence, item["id"]
        if item["answerable"]:
            assert item["evidence"] and item["key_facts"], item["id"]
            assert item["unanswerable_kind"] is None, item["id"]
        else:
            assert not item["evidence"] and not item["offset"], item["id"]
            # The original 45 questions (ids q…) predate the near-miss / off-topic labels.
            kinds = ("near_miss", "off_topic") if item["id"].startswith("p") else (None,)
            assert item["unanswerable_kind"] in kinds, item["id"]
        assert item["category"] in CATEGORIES and item["style"] in STYLES, item["id"]
        for alternatives in item["key_facts"]:
            assert alternatives and all(a == a.lower() for a in alternatives), item["id"]


def test_dev_and_test_do_not_share_questions():
    dev, test = load("dev"), load("test")
    assert not {i["id"] for i in dev} & {i["id"] for i in test}
    assert not {i["question"].lower() for i in dev} & {i["question"].lower() for i in test}
    assert len({i["id"] for i in dev + test}) == len(dev) + len(test)


def test_new_questions_meet_the_written_quotas():
    new = [i for i in load("dev") + load("test") if i["id"].startswith("p")]
    count = Counter()
    for item in new:
        count[item["category"]] += 1
        count[item["style"]] += 1
        count["unanswerable"] += not item["answerable"]
        count["near_miss"] += item["unanswerable_kind"] == "near_miss"
        count["three_spans"] += len(item["evidence"]) >= 3
    assert len(new) >= 120
    assert count["webinar"] >= 35 and count["multi"] >= 20 and count["three_spans"] >= 5
    assert count["paraphrase"] >= 40 and count["asr_name"] >= 15
    assert count["unanswerable"] >= 25 and count["near_miss"] > count["unanswerable"] / 2


def test_test_split_has_its_share_of_every_kind():
    test = load("test")
    assert len(test) >= 100
    assert sum(not i["answerable"] for i in test) >= 15
    assert sum(i["style"] == "paraphrase" for i in test) >= 30
    assert sum(len(i["evidence"]) > 1 for i in test) >= 10
