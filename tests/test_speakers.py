"""The people who speak in the podcast are who said it, not what a question is about."""

from __future__ import annotations

import logging
from pathlib import Path

from rag.speakers import Speakers, guests_in_title, load_speakers, parse_speakers

TITLE = (
    "Grok-3 daagt OpenAI uit + NYT omarmt AI + exclusief interview met Rick Lamers (Groq) "
    "| AI Report"
)


def test_the_guest_is_read_from_the_episode_title():
    assert guests_in_title(TITLE) == ["Rick Lamers"]
    assert guests_in_title("In gesprek met Fei-Fei Li over ruimtelijke AI") == ["Fei-Fei Li"]
    assert guests_in_title("Grok-3 daagt OpenAI uit") == []


def test_hosts_and_guests_are_left_out_of_a_question():
    speakers = load_speakers().with_guests([TITLE])
    assert speakers.without("Denkt Rick dat de AI-race eindigt met één winnaar?") == (
        "Denkt dat de AI-race eindigt met één winnaar?"
    )
    assert speakers.without("Waar heeft Rick Lamers gestudeerd?") == "Waar heeft gestudeerd?"
    assert speakers.without("waar zit alexander deze week eigenlijk?") == (
        "waar zit deze week eigenlijk?"
    )
    assert speakers.without("Hoeveel abonnees heeft Rick's nieuwsbrief?") == (
        "Hoeveel abonnees heeft nieuwsbrief?"
    )
    assert speakers.without("Wat vinden Wietse en Milou Brand van Suno?") == (
        "Wat vinden en van Suno?"
    )
    # A surname alone may be a word ("brand"); too little left keeps the question.
    assert speakers.without("Is er brand in het datacenter?") == "Is er brand in het datacenter?"
    assert speakers.without("Wie is Rick Lamers?") == "Wie is Rick Lamers?"
    assert Speakers([]).without("Denkt Rick dat het kan?") == "Denkt Rick dat het kan?"


def test_a_first_name_that_is_also_an_ai_name_stays_unless_in_full():
    speakers = load_speakers().with_guests(["Interview met Claude Shannon"], ["Claude"])
    assert speakers.without("Wat vond Claude Shannon van wat Claude schrijft?") == (
        "Wat vond van wat Claude schrijft?"
    )
    # A model as the "guest" of a conversation stays a topic.
    model = load_speakers().with_guests(["Gesprek met Claude over bewustzijn"], ["Claude"])
    assert model.without("Wat zegt Claude over bewustzijn?") == "Wat zegt Claude over bewustzijn?"
    # The lexicon spells people too ("Rick Lamers"): a guest with a full name stays a guest.
    rick = load_speakers().with_guests([TITLE], ["Rick Lamers", "Claude"])
    assert rick.without("Denkt Rick dat open modellen winnen?") == "Denkt dat open modellen winnen?"
    # Hosts are listed on purpose: their first names count even when the lexicon has them.
    assert speakers.without("Wat vindt Wietse van wat Claude schrijft?") == (
        "Wat vindt van wat Claude schrijft?"
    )


def test_an_admin_adds_speakers_in_a_file(tmp_path: Path, caplog):
    extra = tmp_path / "sprekers.txt"
    extra.write_text("# gasten van de specials\nFei-Fei Li\n\n", encoding="utf-8")
    assert parse_speakers(extra.read_text(encoding="utf-8")) == ["Fei-Fei Li"]
    speakers = load_speakers(extra)
    assert speakers.without("Wat zegt Fei-Fei Li over robots?") == "Wat zegt over robots?"
    assert speakers.without("Wat vindt Wietse van robots?") == "Wat vindt van robots?"
    with caplog.at_level(logging.WARNING):
        load_speakers(tmp_path / "ontbreekt.txt")
    assert "SPEAKERS_FILE" in caplog.text


def test_a_question_naming_the_guest_finds_him_speaking(service):
    # In the interview the guest speaks and is hardly named; the hosts name him where they
    # announce or introduce him, which the question's "Rick" pulled the search towards.
    for question, offset in (
        (
            "Hoe moet de samenleving volgens Rick opvangen dat mensen hun werk kwijtraken door "
            "automatisering?",
            94909,
        ),
        (
            "Welke beroepsgroepen worden in het interview met Rick genoemd als kwetsbaar voor "
            "automatisering door AI?",
            93017,
        ),
    ):
        retrieved = service.ask(question).retrieved
        assert any(f.start_char <= offset < f.end_char for f in retrieved), question
