"""Messages that are not questions: a greeting, thanks, an "oké", "wat kun je?", or a
link on its own.

Searched like a question, "bedankt!" found passages and showed them as what "werd erover
gezegd". A message that is only small talk (the whole message; "Hoi, wat is
quantisatie?" is a question) gets a short reply instead (`rag.messages_nl`).
"""

from __future__ import annotations

import re

from rag import messages_nl as nl

_END = r"[\s\W_]*$"  # punctuation, emoji, nothing else
GREETING = re.compile(
    r"^\W*(?:hoi|hallo|hey|hi|hee|hej|yo|dag|goedemorgen|goedemiddag|goedenavond|"
    r"goeiemorgen|goeiemiddag|goeienavond)(?:\s+(?:bot|daar|allemaal|vraagbaak))?" + _END,
    re.IGNORECASE,
)
THANKS = re.compile(
    r"^\W*(?:(?:heel\s+)?(?:erg\s+)?(?:bedankt|dank\s*je(?:\s*wel)?|dank\s*u(?:\s*wel)?|"
    r"thanks|thank\s+you|thx|merci)(?:\s+(?:hoor|voor\s+(?:je|het|de)\s+(?:hulp|antwoord|"
    r"uitleg)))?)" + _END,
    re.IGNORECASE,
)
OK = re.compile(
    r"^\W*(?:ok|oké|okay|oke|okee|prima|cool|goed|fijn|mooi|top|super|helder|duidelijk|"
    r"klopt|aha|ah|ja|nee|nice)(?:[\s,]+(?:helder|duidelijk|dan|hoor|top|prima|dank\s*je|"
    r"bedankt))*" + _END,
    re.IGNORECASE,
)
HELP = re.compile(
    r"^\W*(?:help|hulp|wat\s+(?:kun|kan)\s+(?:je|jij|u)(?:\s+(?:allemaal|zoals|doen))*|"
    r"hoe\s+werk(?:t|en)?\s+(?:dit|jij|je|het|deze\s+bot)|wie\s+ben\s+(?:je|jij)|"
    r"wat\s+ben\s+(?:je|jij))" + _END,
    re.IGNORECASE,
)
# A link with at most a word or two around it ("kijk: https://…"): nothing to search for.
LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
AROUND_A_LINK = re.compile(
    r"^\W*(?:(?:kijk|zie|check|lees|hier|deze|dit|die|link|artikel|video|even|eens|"
    r"wat\s+vind\s+je)\W*)*$",
    re.IGNORECASE,
)
REPLIES = (
    (GREETING, nl.SMALL_TALK_GREETING),
    (THANKS, nl.SMALL_TALK_THANKS),
    (OK, nl.SMALL_TALK_OK),
    (HELP, nl.SMALL_TALK_HELP),
)


def small_talk_reply(message: str) -> str | None:
    """The reply to a message that is only small talk; None for anything else."""
    if LINK.search(message) and AROUND_A_LINK.match(LINK.sub(" ", message)):
        return nl.LINK_ONLY
    return next((reply for pattern, reply in REPLIES if pattern.match(message)), None)
