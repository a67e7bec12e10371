"""What kind of answer a question asks for, and whether a passage can give it.

Questions that ask for a number, an amount or a moment ("hoeveel", "wat kost",
"wanneer", "in welk jaar", "welk percentage") are the typical near miss: the topic is
discussed, the number is not. A passage without any number or moment in it cannot
answer them, however close its meaning: when the passage that matches best has none,
`rag.retrieval` answers "not found" (the reader still sees where the topic comes up),
and a passage that has one leads the answer when it scores nearly as well.

Measured on eval/dev.jsonl (5 folds, cut-offs fitted on the other four): unanswerable
questions refused or hedged 0.27 -> 0.41, of them a clean "not found" 0.14 -> 0.36;
answerable questions hedged or not found 0.126 -> 0.136, "not found" 0.039 -> 0.049
(one question); key facts in the answer 0.602 -> 0.617. Lowering the verdict by one
step only (found -> unsure) gave the same refusals with 0.23 clean "not found"; no
fold got fewer refusals or key facts either way. The numbers of names ("Wanneer komt
GPT-5 uit?" against "de innovaties van gpt 5") not counting as answers: unanswerable
refused 0.41 -> 0.45, clean "not found" 0.36 -> 0.41, answerable questions unchanged.
"""

from __future__ import annotations

import re

from rag.passages import PASSAGE_TOLERANCE, Passage

QUANTITY_QUESTION_RE = re.compile(
    r"\b(?:hoeveel|wanneer|hoelang|hoe\s+(?:lang|vaak|duur|oud|groot|snel|zwaar)|"
    r"wat\s+(?:kost|kosten|koste|kostte|kostten|betaal|betaalt|betalen)|"
    r"(?:welk|welke)\s+(?:jaar|jaartal|datum|dag|maand|percentage|prijs|bedrag|aantal)|"
    r"hoe\s+veel)\b",
    re.IGNORECASE,
)

# Dutch number words (not "een": it is mostly the article), months and weekdays.
_UNITS = "twee|drie|vier|vijf|zes|zeven|acht|negen"
_TENS = "twintig|dertig|veertig|vijftig|zestig|zeventig|tachtig|negentig"
_BIG = "honderd|duizend|miljoen|miljard|biljoen"
NUMBER_WORD_RE = re.compile(
    rf"^(?:nul|{_UNITS}|tien|elf|twaalf|dertien|veertien|vijftien|zestien|zeventien|"
    rf"achttien|negentien|{_TENS}|(?:(?:{_UNITS}|een)(?:en|ën))?(?:{_TENS})|"
    rf"(?:{_UNITS}|tien|twaalf|{_TENS})?(?:{_BIG})(?:en|tallen)?\w*|tientallen|"
    rf"procent|januari|februari|maart|april|mei|juni|juli|augustus|september|"
    rf"oktober|november|december|maandag|dinsdag|woensdag|donderdag|vrijdag|"
    rf"zaterdag|zondag)$"
)
WORD_RE = re.compile(r"\w+")
# Model and product names carry numbers that are not amounts: "GPT-4.5", "Grok 3", "o3",
# "Llama 3", "R1". A number right after one of these words, or a word that starts with
# letters and then has digits ("o3", "r1", "h100", "gpt4"), is part of a name.
NAME_WORDS = frozenset(
    {
        "gpt", "chatgpt", "grok", "grock", "groq", "claude", "gemini", "llama", "lama",
        "mistral", "deepseek", "seek", "qwen", "phi", "sonnet", "opus", "haiku", "o", "r",
        "v", "versie", "model", "iphone", "windows",
    }
)  # fmt: skip


def asks_quantity(question: str) -> bool:
    """Whether the question asks for a number, an amount, a duration or a moment."""
    return QUANTITY_QUESTION_RE.search(question) is not None


def quantities(text: str, names: bool = False) -> set[str]:
    """The words of `text` that are numbers (digits or Dutch number words) or moments;
    the numbers of names ("GPT-4.5", "o3": `NAME_WORDS`) only with `names`."""
    found: set[str] = set()
    previous = ""
    for word in WORD_RE.findall(text.lower()):
        if any(c.isdigit() for c in word):
            in_name = word[0].isalpha() or previous in NAME_WORDS
            if names or not in_name:
                found.add(word)
        elif NUMBER_WORD_RE.match(word):
            found.add(word)
        # "GPT-4.5": the "5" after the "4" belongs to the same name.
        previous = previous if word.isdigit() and previous in NAME_WORDS else word
    return found


def has_quantity(text: str, question: str = "") -> bool:
    """Whether `text` holds a number or a moment that the question does not already
    name ("hoeveel parameters heeft Grok 3": a "3" is not the answer, also where the
    captions garble the name: "gook 3"), nor only the numbers of names ("GPT-4.5")."""
    return bool(quantities(text) - quantities(question, names=True))


def lead_with_quantity(passages: list[Passage], question: str) -> list[Passage]:
    """`passages` (best first) with the best one that holds a quantity first, when it
    scores within `PASSAGE_TOLERANCE` of the best."""
    if not passages:
        return passages
    floor = passages[0].score - PASSAGE_TOLERANCE
    for p in passages:
        if p.score < floor:
            break
        if has_quantity(p.quote, question):
            return [p, *(q for q in passages if q is not p)]
    return passages
