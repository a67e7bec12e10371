"""Readable extractive answers, the AI-name lexicon and the verdict calibration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import SAMPLE

from rag import messages_nl as nl
from rag.answer import ExtractiveComposer
from rag.calibration import cross_validate, fit_thresholds, quantile, rates
from rag.lexicon import Lexicon, load_lexicon, parse_lexicon
from rag.retrieval import VerdictThresholds, without_attribution
from rag.text import collapse_repeats, readable
from rag.transcripts import read_source_text
from rag.types import Turn

SOURCE = read_source_text(SAMPLE)


def test_lexicon_expands_names_to_their_caption_spellings():
    lexicon = load_lexicon()
    variants = lexicon.variants("Wat vindt Wietse van Claude en Groq?")
    assert "grok met een q" in variants and "cloud" in variants
    assert "Claude" not in variants  # already in the question
    assert lexicon.variants("Hoe werkt een database?") == []


def test_lexicon_fixes_caption_spellings_but_not_ambiguous_words():
    fix = load_lexicon().fix_spelling
    assert fix("wat grok met een q doet met open Ai en notebook Lem") == (
        "wat Groq doet met OpenAI en NotebookLM"
    )
    assert fix("Ik gebruik Cloud om te brainstormen") == "Ik gebruik Cloud om te brainstormen"
    assert fix("een Ai bedrijf") == "een AI bedrijf"


def test_lexicon_file_of_an_admin_is_added(tmp_path: Path, caplog):
    extra = tmp_path / "names.txt"
    extra.write_text("# mine\nSuno | soeno; su no | suno's\nbroken | a | b | c\n", "utf-8")
    lexicon = load_lexicon(extra)
    assert lexicon.fix_spelling("ik maakte muziek met soeno") == "ik maakte muziek met Suno"
    assert "line 3 ignored" in caplog.text
    assert load_lexicon(tmp_path / "missing.txt").fix_spelling("open Ai") == "OpenAI"


def test_parse_lexicon_reads_the_three_columns():
    (name,) = parse_lexicon("Groq | grok met een q; groq met een q | grok")
    assert name.name == "Groq" and name.spellings == ("grok met een q", "groq met een q")
    assert name.search_only == ("grok",)
    assert Lexicon().variants("Groq") == []


def test_readable_drops_fillers_stutters_and_leading_glue():
    text = "dus eh ik denk dat ik denk dat het het model van open Ai eh heel goed is"
    assert collapse_repeats("ik denk dat ik denk dat het het".split()) == "ik denk dat het".split()
    assert readable(text, load_lexicon().fix_spelling) == (
        "Ik denk dat het model van OpenAI heel goed is…"
    )
    assert readable("[Muziek] eh") == ""


def test_readable_ends_a_sentence_where_the_captions_start_one():
    # The captions capitalise a sentence's first word; a capitalised name is no break.
    text = (
        "hoe het te werk gaat in onderzoek Ja handig om te weten Ik denk dat Deep Research het kan"
    )
    assert readable(text) == (
        "…hoe het te werk gaat in onderzoek. Ja handig om te weten. Ik denk dat Deep Research "
        "het kan…"
    )
    assert readable("Dat was het, Ja precies") == "Dat was het, Ja precies…"


def test_readable_marks_a_passage_that_starts_mid_sentence_with_an_ellipsis():
    # A window cut inside a sentence starts with a word the captions left lowercase: it
    # is not the start of a sentence, so no capital, but "…" as for the cut at the end.
    assert readable("geweest op het gebied van AI Ja dat klopt") == (
        "…geweest op het gebied van AI. Ja dat klopt…"
    )
    # A sentence the captions start (capitalised) or a clause after dropped glue words
    # ("dus", "en") reads as a start.
    rest = "het model werkt met heel kleine losse experts"
    assert readable(f"Dus {rest}") == readable(f"en {rest}") == f"H{rest[1:]}…"
    assert readable("Ik denk het wel") == "Ik denk het wel…"


def test_the_not_found_pointer_marks_a_cut_once(service):
    # The pointer's excerpt is cut at the end; where it starts inside a sentence the
    # excerpt itself says so: one "…", never two.
    answer = service.ask("Hoeveel parameters heeft Grok 3?")
    assert answer.verdict == "not_found" and "dichtst in de buurt" in answer.text
    excerpt = answer.text.split("“", 1)[1]
    assert "……" not in answer.text and excerpt.endswith("…”")
    assert excerpt[0].isupper() or (excerpt[0] == "…" and not excerpt[1].isupper())


def test_attribution_is_left_out_for_placing_passages():
    assert without_attribution("Wat is quantisatie volgens Rick Lamers?") == "Wat is quantisatie ?"
    assert without_attribution("Wat zegt Milou over de New York Times?") == (
        "Wat over de New York Times?"
    )
    assert without_attribution("Wat vindt Wietse?") == "Wat vindt Wietse?"  # too little left


def test_extractive_answer_leads_with_a_clean_passage_and_keeps_quotes_verbatim(service):
    retrieval = service.retrieve("Wat is quantisatie volgens Rick Lamers?")
    composed = ExtractiveComposer().compose(retrieval)
    lines = composed.text.splitlines()
    assert composed.found and lines[1].startswith("“") and lines[1].endswith("[1]")
    assert "precisie" in lines[1]  # the passage that answers leads
    assert " eh " not in composed.text.lower()
    lead_words = lines[1].split("”")[0].split()
    assert len(lead_words) <= 65
    for c in composed.citations:
        assert SOURCE[c.start_char : c.end_char] == c.quote  # verbatim, not cleaned
    starts = [c.start_char for c in composed.citations]
    assert all(abs(a - b) >= 400 for i, a in enumerate(starts) for b in starts[i + 1 :])
    for later in lines[2:]:
        assert later.startswith("Elders in de aflevering:")


@pytest.mark.parametrize(
    "question",
    ["In welke aflevering ging het over quantisatie?", "Waar hadden ze het over quantisatie?"],
)
def test_a_where_question_is_answered_with_the_episode_and_moment_first(service, question):
    answer = service.ask(question)
    first = answer.citations[0]
    assert answer.verdict == "found"
    assert answer.text.splitlines()[0] == (
        f"Daarover ging het in „{first.title}” (rond {round(first.position * 100)}% van de "
        "aflevering):"
    )
    assert "precisie" in answer.text.splitlines()[1]  # then the passage, as before
    # A question about something else keeps the usual opening.
    other = service.ask("Wat is quantisatie volgens Rick Lamers?")
    assert other.text.splitlines()[0] == "Dit werd erover gezegd in de podcast:"


def quotes_in(text: str) -> list[str]:
    return [part.split("”", 1)[0] for part in text.split("“")[1:]]


def test_a_follow_up_does_not_show_the_same_passages_again(service):
    # Asked about Deep Research, then "En wat zegt Rick daarover?": the follow-up is
    # searched with the first question and found the same passage, shown again as if new.
    first_q = "Moet ik Deep Research nemen voor 200 euro per maand?"
    first = service.ask(first_q)
    assert first.found and quotes_in(first.text)
    follow = service.ask("En wat zegt Rick daarover?", history=[Turn(first_q, first.text)])
    assert follow.found and follow.citations
    shown = quotes_in(follow.text)
    # Nothing shown twice, not even as a window overlapping the one shown before.
    assert not any(q in first.text or q[20:60] in first.text for q in shown)
    if not shown:  # nothing new: said so, with the earlier passage cited
        assert follow.text.startswith("Daarover vond ik niets meer dan in mijn vorige antwoord")
        assert follow.citations[0].quote == first.citations[0].quote
    # Without that history the same question shows its best passage as usual.
    assert quotes_in(service.ask("En wat zegt Rick daarover?").text)


def test_asking_for_more_shows_passages_not_shown_before(service):
    question = "Wat vindt Rick van open source?"
    first = service.ask(question)
    history = [Turn(question, first.text)]
    more = service.ask("meer", history=history)
    # Searched as the question it follows: its passages, none shown before.
    candidates = {p.quote for p in service.retrieve(question).passages}
    assert more.citations and {c.quote for c in more.citations} <= candidates
    assert not any(q in first.text for q in quotes_in(more.text))
    history.append(Turn("meer", more.text))
    again = service.ask("nog meer?", history=history)
    assert again.citations and {c.quote for c in again.citations} <= candidates
    assert not any(q in first.text or q in more.text for q in quotes_in(again.text))
    # Asked first, "meer" asks what about.
    alone = service.ask("meer")
    assert alone.text == nl.MORE_OF_WHAT and not alone.citations and not alone.retrieved


def test_a_citation_says_how_far_into_the_episode_its_quote_stands(service):
    # Plain captions have no times: the position (share of the episode's words before
    # the quote) tells a listener where to look.
    body = SOURCE.split("## Transcript", 1)[1]
    offset = len(SOURCE) - len(body)
    total = len(body.split("---")[0].split())
    answer = service.ask("Wat is quantisatie volgens Rick Lamers?")
    assert answer.citations
    for c in answer.citations:
        before = len(SOURCE[offset : c.start_char].split())
        assert c.start_time is None and c.position is not None
        assert c.position == pytest.approx(before / total, abs=0.005)


def test_quantile_and_fitted_thresholds():
    assert quantile([1, 2, 3, 4, 5], 0.5) == 3
    assert quantile([0.0, 1.0], 0.1) == pytest.approx(0.1)
    t = fit_thresholds([0.80 + i / 100 for i in range(11)], doubt_rate=0.1, not_found_rate=0.0)
    assert t.found_score == pytest.approx(0.81) and t.unsure_score == pytest.approx(0.80)


def test_rates_and_cross_validation_report():
    scored = [(0.9, True, False), (0.95, True, False), (0.86, True, False)]
    scored += [(0.84, False, False), (0.87, False, False), (0.95, False, False)]
    t = VerdictThresholds(found_score=0.88, unsure_score=0.85)
    r = rates(scored, t)
    assert r.answerable_doubted == pytest.approx(1 / 3) and r.answerable_not_found == 0
    assert r.unanswerable_refused == pytest.approx(2 / 3)
    assert r.unanswerable_not_found == pytest.approx(1 / 3)
    # The same scores when the last two lack the number their questions ask for.
    missing = rates([*scored[:4], (0.87, False, True), (0.95, False, True)], t)
    assert missing.unanswerable_refused == 1 and missing.unanswerable_not_found == 1

    class Item:
        def __init__(self, i, answerable):
            self.id, self.answerable = f"x{i}", answerable

    class Answer:
        def __init__(self, score):
            self.verdict_score = score
            self.missing_quantity = False

    class Result:
        def __init__(self, i, score, answerable):
            self.item, self.answer = Item(i, answerable), Answer(score)

    results = [Result(i, 0.80 + (i % 20) / 100, i % 4 != 0) for i in range(40)]
    report = cross_validate(results, 4)
    assert "(4 folds, 40 questions)" in report and "held-out folds, pooled" in report
    assert report.count("  fold ") == 4
    assert not any(math.isnan(float(x)) for x in report.splitlines()[2].split()[-4:])


def test_final_verdict_agrees_with_found():
    from rag.retrieval import Verdict
    from rag.service import final_verdict

    assert final_verdict(Verdict.FOUND, False) is Verdict.NOT_FOUND
    assert final_verdict(Verdict.NOT_FOUND, True) is Verdict.UNSURE
    assert final_verdict(Verdict.UNSURE, True) is Verdict.UNSURE
    assert final_verdict(Verdict.FOUND, True) is Verdict.FOUND


def test_readable_drops_a_stray_letter_where_the_window_cut_a_name():
    text = "q Grok kan je ons nog heel even helpen wat het verschil is tussen die twee"
    assert readable(text).startswith("Grok kan je ons")
    digits = readable("5 miljoen dollar heeft het model gekost zeggen ze bij DeepSeek")
    assert digits.startswith("5")
