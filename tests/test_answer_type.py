"""Questions that ask for a number or a moment need a passage that holds one."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import make_settings

from rag.answer_type import asks_quantity, has_quantity, lead_with_quantity, quantities
from rag.retrieval import Verdict
from rag.service import AnswerService

FILLER = (
    "we hebben het vandaag over allerlei dingen die met kunstmatige intelligentie te maken "
    "hebben en over hoe je daar als luisteraar zelf mee aan de slag kunt gaan "
)
WITHOUT_PRICE = (
    "de nieuwsbrief heeft een betaald abonnement en dat abonnement is echt de moeite waard "
    "want je krijgt elke week de beste links en een webinar met de makers erbij "
)
WITH_PRICE = (
    "de nieuwsbrief heeft een betaald abonnement en dat abonnement kost negen euro per "
    "maand en daarvoor krijg je elke week de beste links en een webinar met de makers "
)
PRICE_QUESTION = "Wat kost een betaald abonnement op de nieuwsbrief?"
TOPIC_QUESTION = "Wat krijg je bij een betaald abonnement op de nieuwsbrief?"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Hoeveel parameters heeft Grok 3?", True),
        ("Wat kost een Claude Pro-abonnement per maand?", True),
        ("Wanneer komt GPT-5 uit?", True),
        ("In welk jaar is Rick afgestudeerd?", True),
        ("Welk percentage van de banen verdwijnt?", True),
        ("Hoe lang zat de wetenschap vast?", True),
        ("Hoe werkt quantisatie?", False),
        ("Welke modellen draait Groq?", False),
        ("Moet ik betalen voor Deep Research?", False),
    ],
)
def test_questions_that_ask_for_a_number_or_a_moment(question, expected):
    assert asks_quantity(question) is expected


def test_numbers_in_digits_and_words_count_but_not_the_ones_the_question_names():
    assert has_quantity("dat kost negen euro")
    assert has_quantity("het waren er vijfentwintig of drieëntwintig")
    assert has_quantity("tienduizenden gpu's")
    assert has_quantity("dat was in maart")
    assert has_quantity("ongeveer 14 biljoen tokens")
    assert not has_quantity("een model met een groot geheugen")  # "een" is the article
    assert not has_quantity("de tweede keer")  # an ordinal is not an amount
    assert not has_quantity("grok 3 is een goed model", "Hoeveel parameters heeft grok 3?")
    assert has_quantity("grok 3 heeft 300 miljard parameters", "Hoeveel parameters heeft grok 3?")
    # The captions garble the name, the number the question names still does not count.
    assert not has_quantity("ja gook 3 is de laatste iteratie", "Hoeveel parameters heeft grok 3?")


def test_the_numbers_of_names_are_not_amounts():
    when = "Wanneer komt GPT-5 uit?"
    assert not has_quantity("innovaties van gpt 5 en GT5 wat ik heb begrepen", when)
    assert not has_quantity("dat model lijkt op o3 mini en R1 en gpt 4.5", when)
    assert not has_quantity("llama 3 en model 3 zijn namen")
    assert has_quantity("gpt 5 komt over twee maanden", when)
    assert has_quantity("gpt 4.5 kost €200 per maand")
    assert quantities("grok 3 draait op 100 chips") == {"100"}
    assert quantities("grok 3 draait op 100 chips", names=True) == {"3", "100"}


def _episode(folder, name: str, body: str) -> None:
    (folder / name).write_text(f"# {name}\n\n{FILLER * 6}{body}{FILLER * 6}", encoding="utf-8")


@pytest.fixture(scope="module")
def archives(tmp_path_factory, service):
    """Two one-episode archives: the subscription without and with its price. The
    cut-offs are 0 so every question is found by score: only the type check decides."""
    built = {}
    for name, body in (("without", WITHOUT_PRICE), ("with", WITH_PRICE)):
        base = tmp_path_factory.mktemp(name)
        (base / "t").mkdir()
        _episode(base / "t", "nieuwsbrief.txt", body)
        settings = make_settings(base / "t", base / "i", found_score=0.0, unsure_score=0.0)
        svc = AnswerService(settings, embedder=service.embedder)
        assert svc.reindex().episodes == 1
        built[name] = svc
    return built


def test_a_price_question_without_a_price_in_the_passage_is_not_found(archives):
    retrieval = archives["without"].retrieve(PRICE_QUESTION)
    assert retrieval.best_score > 0  # found by score alone
    assert retrieval.verdict is Verdict.NOT_FOUND and retrieval.missing_quantity
    answer = archives["without"].ask(PRICE_QUESTION)
    assert answer.verdict == "not_found" and not answer.found
    assert "nieuwsbrief" in answer.text  # where the topic comes up is still shown


def test_the_same_question_is_found_when_the_passage_holds_the_price(archives):
    retrieval = archives["with"].retrieve(PRICE_QUESTION)
    assert retrieval.verdict is Verdict.FOUND
    assert "negen euro" in retrieval.passages[0].quote
    assert "negen euro" in archives["with"].ask(PRICE_QUESTION).text


def test_questions_that_ask_no_number_are_not_checked(archives):
    assert archives["without"].retrieve(TOPIC_QUESTION).verdict is Verdict.FOUND


def test_a_passage_with_the_number_leads_only_when_it_scores_nearly_as_well(archives):
    real = archives["with"].retrieve(PRICE_QUESTION).passages[0]
    best = replace(real, quote="het abonnement is de moeite waard", score=0.90)
    close = replace(real, quote="het kost negen euro", score=0.86)
    far = replace(real, quote="het kost negen euro", score=0.84)
    assert lead_with_quantity([best, close], PRICE_QUESTION) == [close, best]
    assert lead_with_quantity([best, far], PRICE_QUESTION) == [best, far]


def test_the_number_may_follow_the_passage_that_names_the_topic(service):
    # "… hoe Deep Research nou echt in elkaar steekt … voordat je €200 per maand aan
    # uitgeeft": the best window names Deep Research, the price follows a few words on,
    # as answers follow the words of the question.
    answer = service.ask("Wat kost Deep Research?")
    assert answer.verdict != "not_found" and not answer.missing_quantity
    assert "€200" in answer.text


def test_a_passage_reaches_the_words_that_follow_it_not_further(archives):
    real = archives["with"].retrieve(PRICE_QUESTION).passages[0]
    words = real.fragment.chunk.text.split()
    price = words.index("negen")
    assert price >= 25
    near = replace(real, first=price - 30, last=price - 5, quote="het abonnement")
    far = replace(real, first=price - 50, last=price - 25, quote="het abonnement")
    assert "negen euro" in near.reach() and "negen" not in far.reach()
    assert has_quantity(near.reach(), PRICE_QUESTION)
    assert not has_quantity(far.reach(), PRICE_QUESTION)
