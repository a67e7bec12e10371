"""Dutch texts of the answer layer (the bot keeps its own in `bot/messages.py`)."""

from rag.transcripts import SUPPORTED_SUFFIXES

# The transcript formats the index reads, in a Dutch sentence: ".md, .txt, .vtt of .srt".
SUPPORTED_FORMATS = f"{', '.join(SUPPORTED_SUFFIXES[:-1])} of {SUPPORTED_SUFFIXES[-1]}"

EXTRACTIVE_FOUND_INTRO = "Dit werd erover gezegd in de podcast:"
EXTRACTIVE_UNSURE_INTRO = (
    "Een duidelijk antwoord op precies deze vraag vond ik niet. Dit komt het dichtst in de buurt:"
)
EXTRACTIVE_WHERE_INTRO = "Daarover ging het in „{title}”{moment}:"
NOTHING_NEW = (
    "Daarover vond ik niets meer dan in mijn vorige antwoord: dat fragment [1] is wat de "
    "afleveringen erover zeggen."
)
MORE_OF_WHAT = "Waarover wil je meer weten? Stel je vraag, dan zoek ik op wat erover gezegd is."
EXTRACTIVE_MORE_INTRO = "Meer hierover uit de podcast:"
EXTRACTIVE_ELSEWHERE = "Elders in de aflevering:"
EXTRACTIVE_OTHER_EPISODE = "In een andere aflevering:"
NOT_FOUND = "Dat is in de afleveringen niet besproken."
NOT_FOUND_NEAREST = (
    "Dat is in de afleveringen niet besproken. Het dichtst in de buurt komt een fragment uit "
    "„{title}”: “{excerpt}…”"
)
NO_EPISODES = "Er zijn nog geen afleveringen geïndexeerd, dus ik kan nog niets beantwoorden."
EMPTY_QUESTION = "Stel een vraag over de afleveringen van AI Report."
LINK_ONLY = (
    "Links kan ik niet openen. Stel je vraag in woorden, dan zoek ik op wat er in de "
    "afleveringen over gezegd is."
)
LLM_UNAVAILABLE = "(De AI-samenvatting is nu niet beschikbaar; dit zijn de letterlijke fragmenten.)"
UNSUPPORTED_REMOVED_ONE = (
    "(Eén bewering is weggelaten: de aangehaalde fragmenten bevestigen die niet.)"
)
UNSUPPORTED_REMOVED_MANY = (
    "({n} beweringen zijn weggelaten: de aangehaalde fragmenten bevestigen die niet.)"
)


def unsupported_removed(count: int) -> str:
    """The note under an LLM answer from which `count` unsupported sentences were removed."""
    return UNSUPPORTED_REMOVED_ONE if count == 1 else UNSUPPORTED_REMOVED_MANY.format(n=count)


SKIP_REASONS = {
    "empty": "leeg bestand",
    "binary": "binair bestand, geen tekst",
    "not_utf8": "geen geldige UTF-8-tekst",
    "too_large": "te groot",
    "no_transcript": "geen transcript gevonden",
    "unsupported": f"bestandstype niet ondersteund (gebruik {SUPPORTED_FORMATS})",
    "duplicate_id": "zelfde aflevering als een ander bestand",
    "unreadable": "kon het bestand niet lezen",
}


def skip_reason(code: str, detail: str = "") -> str:
    text = SKIP_REASONS.get(code, code)
    return f"{text} ({detail})" if detail else text


# Questions about the archive and its guests, answered from the episode list (`rag.catalogue`).
GUEST_IN_EPISODE = "{guest} was te gast in de aflevering „{title}” [{n}]."
GUEST_IN_EPISODES = "{guest} was te gast in {count} afleveringen:"
GUEST_OF_EPISODE = "De gast in „{title}” was {guests} [{n}]."
WHICH_EPISODE_PREFIX = "Welke aflevering bedoel je?"  # both lists below start with it
GUESTS_WHICH_EPISODE = (
    "Welke aflevering bedoel je? Vraag het met een onderwerp erbij („… in de aflevering over "
    "…?”). Deze afleveringen hadden een gast:"
)
GUEST_LIST_ITEM = "• {guests}: „{title}” [{n}]"
EPISODE_LIST_ITEM = "• „{title}” [{n}]"
GUESTS_MORE = "…en nog {count} andere."
EPISODES_KNOWN = "Ik ken {count} aflevering(en) van AI Report:"
EPISODES_WHICH_ONE = (
    "Welke aflevering bedoel je? Vraag het met een onderwerp of de gast erbij („… de "
    "aflevering over …”, „… de aflevering met …”). Ik ken er {count}:"
)
OVERVIEW_INTRO = "Waar „{title}” over gaat, vertellen ze aan het begin:\n“{excerpt}” [1]"
OVERVIEW_TITLE = "Deze aflevering heet „{title}” [1]."

# Messages that are not questions (`rag.smalltalk`).
SMALL_TALK_GREETING = (
    "Hoi! Ik beantwoord vragen over de afleveringen van AI Report, met de fragmenten waar "
    "het gezegd werd. Wat wil je weten?"
)
SMALL_TALK_THANKS = "Graag gedaan! Vraag gerust verder."
SMALL_TALK_OK = "Vraag gerust verder, of stel een nieuwe vraag over de afleveringen."
SMALL_TALK_HELP = (
    "Ik zoek het antwoord op je vraag op in de afleveringen van AI Report en laat zien wat er "
    "gezegd werd, met de aflevering en het moment erbij. Vraag bijvoorbeeld wat de hosts van "
    "een AI-onderwerp vinden, wie er te gast was, of in welke aflevering iets besproken werd. "
    "Je kunt gewoon doorvragen."
)
