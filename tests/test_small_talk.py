"""A greeting, thanks or "wat kun je?" gets a short reply, not passages found for it."""

from __future__ import annotations

import pytest

from rag import messages_nl as nl


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ("Hoi", nl.SMALL_TALK_GREETING),
        ("Goedemorgen! 👋", nl.SMALL_TALK_GREETING),
        ("bedankt!", nl.SMALL_TALK_THANKS),
        ("Dank je wel hoor", nl.SMALL_TALK_THANKS),
        ("ok", nl.SMALL_TALK_OK),
        ("Oké, helder.", nl.SMALL_TALK_OK),
        ("Wat kun jij?", nl.SMALL_TALK_HELP),
        ("hoe werkt dit", nl.SMALL_TALK_HELP),
        ("https://www.youtube.com/watch?v=xDCa0xgymMY", nl.LINK_ONLY),
        ("kijk: www.example.com/artikel !", nl.LINK_ONLY),
    ],
)
def test_small_talk_gets_a_short_reply_without_a_search(service, message, reply):
    answer = service.ask(message)
    assert answer.text == reply
    assert not answer.citations and not answer.retrieved and answer.verdict == "not_found"


@pytest.mark.parametrize(
    "question",
    [
        "Hoi, wat is quantisatie?",
        "Bedankt voor de uitleg, maar hoe werkt quantisatie?",
        "Wat zei Rick over quantisatie in https://www.youtube.com/watch?v=xDCa0xgymMY ?",
    ],
)
def test_a_question_after_a_greeting_is_answered(service, question):
    answer = service.ask(question)
    assert answer.citations and answer.retrieved
