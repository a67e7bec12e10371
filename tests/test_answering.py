"""Retrieval and extractive answers on the real sample episode."""

from __future__ import annotations

import re

import pytest
from conftest import DEV_SET, SAMPLE

from rag.answer import Answer
from rag.evaluation import load_items, span_rank
from rag.retrieval import asr_variants
from rag.service import AnswerService, Turn, standalone_query
from rag.transcripts import quote_in_source, read_source_text

SOURCE = read_source_text(SAMPLE)


def _check_citations(answer: Answer) -> None:
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}
    for c in answer.citations:
        assert c.source_file == SAMPLE.name and c.episode_id == "xDCa0xgymMY"
        assert c.url.startswith("https://www.youtube.com/watch?v=xDCa0xgymMY")
        assert quote_in_source(c.quote, SOURCE, c.start_char, c.end_char)
        assert SOURCE[c.start_char : c.end_char] == c.quote


def test_retrieval_finds_known_passages(service):
    items = [i for i in load_items(DEV_SET) if i.answerable and i.style == "lexical"]
    found = 0
    for item in items:
        answer = service.ask(item.question)
        spans = zip(item.evidence, item.offsets, strict=True)
        found += all(span_rank(answer, item, e, o) for e, o in spans)
    assert found / len(items) >= 0.9


def test_answer_with_citations(service):
    answer = service.ask(
        "Welk Nederlands bedrijf speelt een rol in de geopolitieke discussies over chips?"
    )
    assert answer.found and answer.mode == "extractive" and answer.citations
    assert "ASML" in answer.text
    _check_citations(answer)
    assert answer.retrieved and [r.rank for r in answer.retrieved] == list(
        range(1, len(answer.retrieved) + 1)
    )
    assert sum(r.end_char - r.start_char for r in answer.retrieved) > 0


def test_answer_text_drops_caption_fillers(service):
    answer = service.ask(
        "Wat kwam er uit de check van het onderzoek over 1300 sterfgevallen door koken op gas?"
    )
    assert answer.found
    assert " eh " not in f" {answer.text} " and "[Muziek]" not in answer.text
    _check_citations(answer)


def test_garbled_names_are_matched():
    vocab = {"quanti", "grok", "deep", "seek", "model"}
    assert "quanti" in asr_variants("quantiseer", vocab)
    assert "grok" in asr_variants("groq", vocab)
    assert {"deep", "seek"} <= set(asr_variants("deepseek", vocab))
    assert asr_variants("model", vocab) == []


def test_compounds_joined_with_a_linking_s_are_split():
    """Dutch joins compounds with an "s" (bedrijfsdata, nieuwsplatform): the head counts
    without it, and the tail then needs 4+ letters ("quantis|eer" is no compound)."""
    vocab = {"bedrijf", "data", "nieuw", "platform", "quanti", "eer"}
    assert {"bedrijf", "data"} <= set(asr_variants("bedrijfsdata", vocab))
    assert {"nieuw", "platform"} <= set(asr_variants("nieuwsplatform", vocab))
    assert "eer" not in asr_variants("quantiseer", vocab)


def test_quantisation_demo_question(service):
    answer = service.ask("Wat is quantisatie volgens Rick Lamers?")
    assert answer.found
    assert "precisie" in answer.text.lower()
    _check_citations(answer)


def test_unanswerable_question_is_not_answered_with_sources(service):
    answer = service.ask("Wat vindt Milou van Apple Intelligence op de iPhone?")
    assert not answer.found
    assert answer.citations == []
    assert "niet besproken" in answer.text


def test_empty_question(service):
    answer = service.ask("   \x00 ")
    assert not answer.found and answer.citations == [] and answer.text


def test_question_without_words_is_not_searched(service):
    """'???' or '…' is no question: the CLI and the JSON contract ask for one, as the bot
    does, instead of hedging with whatever passage the punctuation happens to match."""
    for text in ("???", " …!? ", "🤖🤖"):
        answer = service.ask(text)
        assert answer.verdict == "not_found" and answer.citations == [] and answer.retrieved == []
        assert answer.text == service.ask("").text


def test_follow_up_leans_on_previous_question():
    history = [Turn("Wat vertelt Rick Lamers over Groq?", "...")]
    assert standalone_query("en wat zei hij over Nvidia?", history).startswith("Wat vertelt Rick")
    assert standalone_query("Wat is mixture of experts?", history) == "Wat is mixture of experts?"
    assert standalone_query("en wat zei hij over Nvidia?", None) == "en wat zei hij over Nvidia?"


def test_a_follow_up_of_a_follow_up_leans_on_the_question_they_started_from():
    # "waarom?" after "Wat vindt Rick van open source?", then "en hoe dan?": the third
    # was searched as "waarom? en hoe dan?", without the subject.
    history = [Turn("Wat vindt Rick van open source?", "..."), Turn("waarom?", "...")]
    assert standalone_query("en hoe dan?", history).startswith("Wat vindt Rick van open source?")
    assert standalone_query("Wat is quantisatie?", history) == "Wat is quantisatie?"


@pytest.mark.parametrize("more", ["meer", "Vertel meer!", "nog meer?", "ga door", "en verder?"])
def test_asking_for_more_searches_the_question_it_follows(more):
    history = [Turn("Wat vindt Rick van open source?", "...")]
    assert standalone_query(more, history) == "Wat vindt Rick van open source?"
    history.append(Turn(more, "..."))  # and once more
    assert standalone_query("meer", history) == "Wat vindt Rick van open source?"


def test_context_budget_is_respected(service):
    answer = service.ask("Wat zei Sam Altman over het prijspunt van 200 dollar voor o1 Pro mode?")
    units = {
        row
        for fragment in answer.retrieved
        for row, unit in enumerate(service.index.units)
        if fragment.start_char <= unit.start_char and unit.end_char <= fragment.end_char
    }
    words = sum(len(service.index.units[u].text.split()) for u in units)
    lead = service._retriever.lead_words
    context = sum(len(SOURCE[r.start_char : r.end_char].split()) for r in answer.retrieved)
    assert 0 < words < context <= service.settings.context_words
    # every fragment is made of whole units and at most a lead-in before them
    assert context - words <= lead * len(answer.retrieved)


def test_a_larger_context_holds_more_fragments_not_only_longer_ones(sample_index):
    """The fragment cap is per 1,500 words: with 3,000 words (an LLM's context) more hits
    come in as fragments of their own instead of only growing the first 18."""
    wide = AnswerService(sample_index.model_copy(update={"context_words": 3000}))
    assert wide.load()
    counts = [
        len(wide.ask(q).retrieved)
        for q in ("Wat zei Sam Altman over het prijspunt van 200 dollar?", "Waar komt AI vandaan?")
    ]
    assert max(counts) > sample_index.max_fragments, counts
    assert max(counts) <= 2 * sample_index.max_fragments


def test_json_contract_keys(service):
    data = service.ask("Wat is het verschil tussen Groq en Grok?").to_json()
    assert set(data) == {
        "question",
        "answer",
        "found",
        "verdict",
        "mode",
        "citations",
        "retrieved",
        "timings_ms",
        "support",
    }
    assert data["support"] is None  # extractive: the quotes are the source
    assert set(data["citations"][0]) == {
        "n",
        "episode_id",
        "title",
        "url",
        "source_file",
        "start_char",
        "end_char",
        "start_time",
        "quote",
        "position",
    }
    assert set(data["retrieved"][0]) == {
        "rank",
        "episode_id",
        "source_file",
        "start_char",
        "end_char",
        "score",
    }
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}


def test_follow_up_that_names_its_own_subject_stands_alone(service):
    history = [Turn("Is Deep Research 200 euro per maand waard?", "...")]
    own = "en wat zei Rick over quantisatie?"
    assert standalone_query(own, history) == own
    assert standalone_query("Wat zijn de nadelen van quantisatie?", history).startswith("Wat zijn")
    # a reference, or a bare connective with too little of its own, still leans on it
    assert standalone_query("en hoe werkt dat?", history).startswith("Is Deep Research")
    assert standalone_query("en Nvidia?", history).startswith("Is Deep Research")
    answer = service.ask(own, history)
    assert "precisie" in answer.text and "Deep Research" not in answer.text
