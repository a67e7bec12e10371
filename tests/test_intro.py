"""An episode's intro announces its topics; it matches many questions and answers few."""

from __future__ import annotations

from dataclasses import replace

from rag.chunking import Unit
from rag.passages import intro_ends, outside_intro

SAMPLE_INTRO_END = 1595  # where "[Muziek]" first stands in the sample transcript


def unit(episode: str, index: int, text: str, start: int) -> Unit:
    words = len(text.split())
    return Unit(
        episode, index, index * words, (index + 1) * words, start, start + len(text), None, text
    )


def test_the_intro_ends_at_the_first_sound_marker_of_the_opening_words():
    body = " ".join(["woord"] * 40)
    units = [
        unit("a", 0, body, 0),
        unit("a", 1, "en veel plezier [Muziek] [Applaus] welkom terug", 300),
        unit("b", 0, body, 0),  # no marker at all: no intro
        unit("c", 0, body, 0),
    ]
    # A marker far into the episode is a break, not the end of an intro.
    units += [unit("c", i, body, 300 * i) for i in range(1, 12)]
    units.append(unit("c", 12, "[Muziek] na de pauze", 3600))
    ends = intro_ends(units)
    assert ends["a"] == 300 + len("en veel plezier ")
    assert ends.get("b", 0) == 0
    assert ends.get("c", 0) == 0


def test_passages_inside_the_intro_give_way_unless_nothing_else_is_left(service):
    retrieval = service.retrieve("Wat vinden Wietse en Rick van de Europese AI Act?")
    assert retrieval is not None
    passages = retrieval.passages
    assert passages
    inside = replace(passages[0], start_char=10, end_char=300)
    crossing = replace(passages[0], start_char=1400, end_char=1700)
    ends = {inside.fragment.chunk.episode_id: SAMPLE_INTRO_END}
    assert outside_intro([inside, crossing], ends) == [crossing]
    assert outside_intro([inside], ends) == [inside]


def test_the_sample_intro_never_leads_an_answer(service):
    # Questions on topics the intro announces (or names it mentions): its topic list used
    # to be their best passage, answered or not.
    for question in (
        "Wat vinden Wietse en Rick van de Europese AI Act?",
        "Wat werd er in de aflevering gezegd over de AI-top in Parijs?",
        "Hoe jong is het AI-bedrijf van Musk eigenlijk?",
        "Welke andere AI-bedrijven, zoals Anthropic, zijn volgens Wietse ook nog volop aan "
        "het opschalen?",
    ):
        answer = service.ask(question)
        assert answer.citations, question
        assert all(c.end_char > SAMPLE_INTRO_END for c in answer.citations), question


def test_a_passage_that_runs_past_the_intro_still_answers(service):
    answer = service.ask("Onder welke nieuwe naam gaat de podcast verder?")
    assert answer.citations[0].start_char < SAMPLE_INTRO_END < answer.citations[0].end_char
    assert "ai report" in answer.citations[0].quote.lower()


def test_the_intro_enters_the_context_only_after_everything_else(service):
    units = service._retriever.index.units
    crossing = next(u for u in units if u.start_char < SAMPLE_INTRO_END < u.end_char)
    for question in (
        "Wat vinden Wietse en Rick van de Europese AI Act?",
        "Wie is de gast in de volgende aflevering van AI Report?",
    ):
        fragments = service.retrieve(question).fragments
        assert fragments, question
        # No unit of the intro is ranked in; a fragment that starts where the intro ends
        # may take in the intro's last words as its lead-in, as any fragment does.
        ranked_starts = [units[f.unit_rows[0]].start_char for f in fragments]
        assert all(start >= crossing.start_char for start in ranked_starts), question
        lead = service._retriever.lead_words
        assert all(f.lead_words <= lead for f in fragments), question
