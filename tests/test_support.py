"""Support scores of cited sentences (`rag.support`) on the sample transcript's own text.

The fragments here are windows of the sample episode around dev-set evidence (about as
long as a retrieved fragment); the sentences are written as an LLM writes them: clean
Dutch, names spelled right. The LLM pipeline itself is tested in `tests/test_llm.py`.
"""

from __future__ import annotations

import pytest
from conftest import DEV_SET, SAMPLE

from rag.answer import Answer, SentenceSupport
from rag.evaluation import EvalItem, ItemResult, format_report, load_items, summarise
from rag.support import SUPPORTED, SupportScorer, is_supported, sentences
from rag.transcripts import read_source_text

SOURCE = read_source_text(SAMPLE)
ITEMS = {item.id: item for item in load_items(DEV_SET)}
scorer = SupportScorer()


def window(item_id: str, chars: int = 1200) -> str:
    """About 400 words of the sample around the evidence of a dev item."""
    item = ITEMS[item_id]
    start = item.offsets[0]
    return SOURCE[max(0, start - chars) : start + len(item.evidence[0]) + chars]


def score(sentence: str, *item_ids: str) -> float | None:
    return scorer.score(sentence, [scorer.source(window(i)) for i in item_ids])


# (dev item whose evidence the sentence paraphrases, the sentence)
PARAPHRASES = [
    ("q004", "DeepSeek zegt dat het model is getraind voor 5,5 miljoen dollar aan gpu-huur [1]."),
    (
        "q009",
        "Bij mixture of experts is het model getraind als losse kleine modellen die in "
        "één geheel geschakeld zijn [1].",
    ),
    ("q044", "Groq ontwikkelt al sinds 2016 chips, nog voor de Transformer-paper uitkwam [2]."),
    (
        "q055",
        "Op een Mac mini van 600 euro kun je DeepSeek R1 niet draaien: die heeft niet "
        "genoeg geheugen [1].",
    ),
    ("q073", "Je krijgt de trainingsdata niet; het gaat om ongeveer 14 biljoen tokens [3]."),
    (
        "q010",
        "Bij de New York Times mag AI geen artikelen helemaal schrijven of ingrijpend herzien [1].",
    ),
]
# Claims on the same topic that the fragment does not make (invented details).
INVENTED = [
    ("q004", "DeepSeek trainde het model in twee weken op 10.000 H100-kaarten van Nvidia [1]."),
    ("q044", "Groq haalde in 2021 een investering van 300 miljoen dollar op bij Tiger Global [1]."),
    ("q073", "Meta publiceert wel de volledige trainingsdata van Llama, met alle boeken [1]."),
    ("q010", "De Washington Post laat journalisten juist samenvattingen maken met Gemini [1]."),
]


@pytest.mark.parametrize(("item_id", "sentence"), PARAPHRASES, ids=[i for i, _ in PARAPHRASES])
def test_a_paraphrase_is_supported_by_its_own_fragment_only(item_id, sentence):
    own = score(sentence, item_id)
    assert own is not None and own >= SUPPORTED, scorer.missing(
        sentence, [scorer.source(window(item_id))]
    )
    # Cited against another part of the episode, most of its content words are absent.
    for other, _ in PARAPHRASES:
        if abs(ITEMS[other].offsets[0] - ITEMS[item_id].offsets[0]) > 3000:  # no overlap
            assert score(sentence, other) < SUPPORTED, other


@pytest.mark.parametrize(("item_id", "sentence"), INVENTED, ids=[i for i, _ in INVENTED])
def test_an_invented_detail_on_the_right_topic_is_not_supported(item_id, sentence):
    assert score(sentence, item_id) < SUPPORTED


def test_names_count_in_their_caption_spellings():
    # The captions say "open Ai eh entropic eh Mistral eh Deep Seek".
    sentence = "OpenAI, Anthropic, Mistral en DeepSeek schalen allemaal nog door [1]."
    fragment = window("p1_027")
    assert "entropic" in fragment and "Anthropic" not in fragment
    assert score(sentence, "p1_027") == 1.0
    assert scorer.missing(sentence, [scorer.source(fragment)]) == []
    # Without the lexicon "Anthropic" and "DeepSeek" would count as absent.
    assert "anthropic" in scorer.terms(sentence) and "deepseek" in scorer.terms(sentence)
    # Groq is "grok met een q" in the captions; a search-only spelling counts too.
    assert score("Groq met een q maakt processoren, Grok met een k is een model [1].", "q034")
    assert scorer.score("Hij gebruikt Claude om te brainstormen [1].", [scorer.source("Cloud")])


def test_compounds_and_numbers_in_words_match_the_captions():
    source = scorer.source("het bedrijf levert chip machines en is 2 jaar oud")
    assert scorer.score("Het bedrijf levert chipmachines en is twee jaar oud [1].", [source]) == 1.0
    assert scorer.missing("Het bedrijf is drie jaar oud [1].", [source]) == ["3"]


def test_short_sentences_are_not_judged():
    assert score("ASML [1].", "q003") is None
    assert score("Zo werd het gezegd [1].", "q003") is None
    assert is_supported(None) and is_supported(SUPPORTED) and not is_supported(0.49)


def test_sentences_keep_their_markers_and_spans():
    text = "Eerst dit [1]. Dan dat. [2][3]\nZonder bron\n\n5,5 miljoen en 100.000 gpu's [2]!"
    parts = sentences(text)
    assert [p.text for p in parts] == [
        "Eerst dit [1].",
        "Dan dat. [2][3]",  # markers after the full stop stay with their sentence
        "Zonder bron",
        "5,5 miljoen en 100.000 gpu's [2]!",  # no break inside numbers
    ]
    assert [p.markers for p in parts] == [(1,), (2, 3), (), (2,)]
    for p in parts:
        assert text[p.start : p.end].strip() == p.text


def _result(mode: str, support: list[SentenceSupport] | None) -> ItemResult:
    item = EvalItem("x", "vraag", True, [], [], [], "fact", "lexical")
    answer = Answer("vraag", "tekst [1].", True, mode, [], [], {"total": 1.0}, support=support)
    return ItemResult(item, answer, [], 0, 0, False)


def test_eval_reports_support_for_llm_answers_and_says_extractive_is_by_construction():
    llm = _result(
        "llm",
        [
            SentenceSupport("gesteund", [1], 0.9, True),
            SentenceSupport("verzonnen", [1], 0.2, False),
            SentenceSupport("kort", [2], None, True),  # not judged: not counted
        ],
    )
    summary = summarise([llm, _result("extractive", None)])
    assert summary.support_checked == 2
    assert summary.support_share == 0.5 and summary.support_mean == pytest.approx(0.55)
    assert "support: 2 cited LLM sentences, 0.500 supported" in format_report(summary, {}, "llm")

    extractive = summarise([_result("extractive", None)])
    assert extractive.support_share is None and extractive.support_mean is None
    report = format_report(extractive, {}, "extractive")
    assert "support: not measured" in report and "1 by construction" in report
