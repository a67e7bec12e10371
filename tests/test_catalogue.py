"""Questions about the archive itself (which episodes, who was a guest in which) are
answered from the episode list and titles, with citations into the captions."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_settings, sample_words, srt_text, write_md_episode

from rag.service import AnswerService
from rag.transcripts import quote_in_source, read_source_text
from rag.types import Turn, Verdict

TITLE_START = "Grok-3 daagt OpenAI uit"


def cited_where_named(answer, folder: Path, name: str) -> bool:
    """Every citation stands verbatim at its offsets, and one names `name`."""
    for c in answer.citations:
        assert quote_in_source(
            c.quote, read_source_text(folder / c.source_file), c.start_char, c.end_char
        )
    return any(name.lower() in " ".join(c.quote.split()).lower() for c in answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "In welke aflevering was Rick Lamers te gast?",
        "Wanneer was Rick te gast bij AI Report?",
        "In welke aflevering zat het interview met Rick Lamers?",
    ],
)
def test_which_episode_a_guest_was_in_comes_from_the_titles(service, question):
    answer = service.ask(question)
    assert answer.verdict == Verdict.FOUND and answer.found
    assert TITLE_START in answer.text and "Rick Lamers" in answer.text
    assert cited_where_named(answer, service.settings.transcripts_dir, "Rick Lamers")


@pytest.mark.parametrize(
    "question",
    [
        "Wie was de gast in deze aflevering?",
        "wie werd er geïnterviewd",
        "Met wie was het interview?",
    ],
)
def test_who_the_guest_was_comes_from_the_title(service, question):
    answer = service.ask(question)
    assert answer.verdict == Verdict.FOUND
    assert "Rick Lamers" in answer.text and TITLE_START in answer.text
    assert cited_where_named(answer, service.settings.transcripts_dir, "Rick Lamers")


@pytest.mark.parametrize(
    "question",
    [
        "Wat zegt Rick Lamers over quantisatie?",  # about what the guest said
        "In het interview met Rick, wat vertelt hij over Groq?",
        "Wie is de gast in de volgende aflevering van AI Report?",  # the titles cannot know
        "Wie was de gast en wat vindt hij van open modellen?",  # a second question
    ],
)
def test_questions_about_what_was_said_are_searched_as_before(service, question):
    answer = service.ask(question)
    assert TITLE_START not in answer.text  # no catalogue answer
    assert answer.retrieved  # the captions were searched


@pytest.fixture(scope="module")
def guest_archive(tmp_path_factory, service) -> AnswerService:
    """Three episodes: one with Rick Lamers (the sample's ASML part, where he is not named),
    one with Anna de Vries (named in its captions), one without a guest."""
    base = tmp_path_factory.mktemp("guests")
    folder = base / "transcripts"
    folder.mkdir()
    write_md_episode(
        folder, "a.md", "epA", "Chips en Europa + interview met Rick Lamers (Groq)", 600, 19700
    )
    words = sample_words()
    named = (
        words[1000:1150]
        + "en vandaag praten we met Anna de Vries over robots".split()
        + words[1150:1500]
    )
    path = write_md_episode(
        folder, "b.md", "epB", "Robots in huis, een gesprek met Anna de Vries", 10, 0
    )
    text = path.read_text(encoding="utf-8").replace(" ".join(words[:10]), " ".join(named))
    path.write_text(text, encoding="utf-8")
    write_md_episode(folder, "c.md", "epC", "Nieuws van de week", 500, 12000)
    settings = make_settings(folder, base / "index", state_dir=base / "state")
    svc = AnswerService(settings, embedder=service.embedder)
    assert svc.reindex().episodes == 3
    return svc


def test_each_guest_is_found_in_their_own_episode(guest_archive):
    folder = guest_archive.settings.transcripts_dir
    answer = guest_archive.ask("In welke aflevering was Anna de Vries te gast?")
    assert "Robots in huis" in answer.text and "Chips en Europa" not in answer.text
    assert [c.episode_id for c in answer.citations] == ["epB"]
    assert cited_where_named(answer, folder, "Anna de Vries")
    # Rick is not named in his episode's captions: the citation is where it begins.
    answer = guest_archive.ask("In welke aflevering was Lamers te gast?")
    assert "Chips en Europa" in answer.text and [c.episode_id for c in answer.citations] == ["epA"]
    assert cited_where_named(answer, folder, "") and answer.citations[0].position == 0


@pytest.mark.parametrize("question", ["Wie was de gast?", "Welke gasten waren er in de podcast?"])
def test_with_several_guests_and_no_topic_the_answer_lists_them(guest_archive, question):
    answer = guest_archive.ask(question)
    assert "Rick Lamers" in answer.text and "Anna de Vries" in answer.text
    assert "Nieuws van de week" not in answer.text
    assert sorted(c.episode_id for c in answer.citations) == ["epA", "epB"]


def test_who_was_the_guest_of_an_episode_about_a_topic(guest_archive):
    answer = guest_archive.ask("Wie was de gast in de aflevering over ASML en chips?")
    assert "Rick Lamers" in answer.text and "Anna de Vries" not in answer.text
    assert [c.episode_id for c in answer.citations] == ["epA"]


def test_a_person_who_was_never_a_guest_is_searched_in_the_captions(guest_archive):
    answer = guest_archive.ask("In welke aflevering was Sam Altman te gast?")
    assert answer.retrieved and "Robots in huis" not in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "Welke afleveringen ken je?",
        "Over welke afleveringen weet je iets?",
        "hoeveel afleveringen zijn er",
    ],
)
def test_which_episodes_there_are_is_the_episode_list(guest_archive, question):
    answer = guest_archive.ask(question)
    assert answer.verdict == Verdict.FOUND
    assert answer.text.splitlines()[0] == "Ik ken 3 aflevering(en) van AI Report:"
    for title in ("Chips en Europa", "Robots in huis", "Nieuws van de week"):
        assert title in answer.text
    assert sorted(c.episode_id for c in answer.citations) == ["epA", "epB", "epC"]
    assert all(c.position == 0 for c in answer.citations)  # where each episode begins


def test_which_episodes_are_about_a_topic_is_searched(guest_archive):
    answer = guest_archive.ask("Welke afleveringen zijn er over ASML?")
    assert answer.retrieved and "Ik ken 3" not in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "Waar ging deze aflevering over?",
        "Kun je de aflevering samenvatten?",
        "waarover gaat de podcast",
    ],
)
def test_what_an_episode_is_about_is_its_title_and_the_topics_it_opens_with(service, question):
    answer = service.ask(question)
    assert answer.verdict == Verdict.FOUND and TITLE_START in answer.text
    assert "New York Times" in answer.text  # the intro's topic list, cleaned for reading
    assert "“Welkom bij AI" in answer.text  # where the episode begins: no "…"
    assert answer.citations[0].position == 0  # where the episode begins
    assert cited_where_named(answer, service.settings.transcripts_dir, "welkom bij")


def test_what_an_episode_is_about_in_an_archive(guest_archive):
    answer = guest_archive.ask("Waar ging de aflevering met Anna de Vries over?")
    assert "Robots in huis" in answer.text and [c.episode_id for c in answer.citations] == ["epB"]
    answer = guest_archive.ask("Waar ging de aflevering over?")  # which one?
    assert answer.text.startswith("Welke aflevering bedoel je?")
    assert sorted(c.episode_id for c in answer.citations) == ["epA", "epB", "epC"]


def test_a_question_about_a_detail_of_the_episode_is_searched(service):
    answer = service.ask("Wat werd er in de aflevering gezegd over zelfrijdende auto's?")
    assert answer.retrieved and TITLE_START not in answer.text


@pytest.mark.parametrize("reply", ["2", "de tweede", "nummer 2."])
def test_the_answer_to_which_episode_is_a_number_from_the_list(guest_archive, reply):
    asked = "Waar ging de aflevering over?"
    listing = guest_archive.ask(asked)
    second = listing.citations[1]
    answer = guest_archive.ask(reply, history=[Turn(asked, listing.text)])
    assert answer.verdict == Verdict.FOUND and second.title in answer.text
    assert [c.episode_id for c in answer.citations] == [second.episode_id]
    # Without the list before it, "2" is just a (poor) question for the search.
    assert guest_archive.ask(reply).retrieved


@pytest.mark.parametrize(
    "reply", ["de aflevering met Anna de Vries", "die over robots", "Robots in huis!"]
)
def test_the_answer_to_which_episode_names_it(guest_archive, reply):
    """The list asks for a topic or the guest: a reply that names one listed episode by
    the words of its title picks it, as a number would."""
    asked = "Waar ging de aflevering over?"
    listing = guest_archive.ask(asked)
    answer = guest_archive.ask(reply, history=[Turn(asked, listing.text)])
    assert "Robots in huis" in answer.text and [c.episode_id for c in answer.citations] == ["epB"]


@pytest.mark.parametrize("reply", ["Wat zegt Anna over robots?", "de aflevering over quantisatie"])
def test_a_reply_that_asks_more_or_fits_no_title_is_searched(guest_archive, reply):
    asked = "Waar ging de aflevering over?"
    listing = guest_archive.ask(asked)
    answer = guest_archive.ask(reply, history=[Turn(asked, listing.text)])
    assert answer.retrieved and not answer.text.startswith("Waar „")


def test_the_guest_of_the_episode_picked_from_the_list(guest_archive):
    asked = "Wie was de gast?"
    listing = guest_archive.ask(asked)
    first = listing.citations[0]
    answer = guest_archive.ask("1", history=[Turn(asked, listing.text)])
    assert answer.text.startswith(f"De gast in „{first.title}” was")
    assert [c.episode_id for c in answer.citations] == [first.episode_id]


def test_timed_captions_are_cited_at_their_moment(tmp_path, service):
    # An .srt file (cues of 8 words, 5 s each): quotes are joined cue words, still
    # verbatim at their offsets, and links jump to the cue's time.
    words = sample_words()[:640]
    folder = tmp_path / "t"
    folder.mkdir()
    title = "Grok 3 en een interview met Rick Lamers"
    (folder / f"{title} [abcdefghijk].srt").write_text(srt_text(words), encoding="utf-8")
    svc = AnswerService(make_settings(folder, tmp_path / "i"), embedder=service.embedder)
    svc.reindex()
    overview = svc.ask("Waar ging de aflevering over?")
    assert title in overview.text and "New York Times" in overview.text
    assert overview.citations[0].start_time == 0
    guest = svc.ask("In welke aflevering was Rick Lamers te gast?")
    [c] = guest.citations
    assert "Lamers" in c.quote and c.start_time and c.url.endswith(f"&t={int(c.start_time)}s")
    assert cited_where_named(overview, folder, "welkom bij")
    assert cited_where_named(guest, folder, "Lamers")
