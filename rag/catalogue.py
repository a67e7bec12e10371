"""Questions about the archive itself: "Welke afleveringen ken je?", "Waar ging de
aflevering over?", "Wie was de gast?", "In welke aflevering was Rick Lamers te gast?".

The captions do not say which episodes the archive holds, and a search of them for such
a question finds whatever mentions "afleveringen": these are answered from the index's
list of episodes.

The episode titles say who the guest was ("… exclusief interview met Rick Lamers
(Groq)", `rag.speakers.guests_in_title`); the captions hardly do (the guest speaks, and
the hosts name him once, when they introduce him), so a search of the captions for such
a question finds small talk about "gasten". These questions are answered from the
titles instead, each episode cited where its captions name the guest (or, when they
never do, where they begin). What an episode is about is its title and the topics its
intro lists ("we gaan het hebben over de New York Times … Grok 3 …", `rag.passages`),
which the search keeps for last because it matches many questions and answers few.

A question that asks more ("… en wat vindt hij van …?"), about what a guest said, or
about episodes still to come, is searched as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag import messages_nl as nl
from rag.answer import Citation, span_citation
from rag.chunking import Unit, join_units
from rag.lexicon import phrase_pattern
from rag.retrieval import Retrieval
from rag.speakers import Speakers
from rag.store import EpisodeInfo, SearchIndex
from rag.text import MARKER_RE, readable, search_tokens
from rag.types import Turn

_GUEST = r"(?:te\s+gast|gast|gasten|geïnterviewd|geinterviewd)"
# "Wie was de gast?", "wie werd er geïnterviewd", "Met wie was het interview?", "Welke
# gasten …?"
WHO_WAS_THE_GUEST = re.compile(
    rf"\bwie\b.*\b{_GUEST}\b|\bwelke\s+gast(?:en)?\b"
    r"|\bmet\s+wie\b.*\b(?:interview|gesprek|gepraat|gesproken|praten|praatten|spraken|sprak)\b",
    re.IGNORECASE | re.DOTALL,
)
# "In welke aflevering was …", "Wanneer was …" with "te gast", "interview", "gesprek" …
WHICH_EPISODE = re.compile(
    r"\b(?:welke|wat\s+voor)\s+(?:aflevering|afleveringen|podcast|podcasts)\b|\bwanneer\b",
    re.IGNORECASE,
)
APPEARED = re.compile(rf"\b(?:{_GUEST}|interview|gesprek|aan\s+tafel)\b", re.IGNORECASE)
# "Waar ging de aflevering over?", "Kun je de aflevering samenvatten?", "Waarover gaat de
# podcast?" (not "Kun je samenvatten wat Rick zei?", nor "Wat werd er in de aflevering
# gezegd over X?": those are about something said, and searched).
_EPISODE = r"(?:aflevering|afleveringen|podcast|uitzending)"
EPISODE_WORD = re.compile(rf"\b{_EPISODE}\b", re.IGNORECASE)
OVERVIEW = re.compile(
    r"\b(?:waar|waarover)\s+(?:ging|gaat|gingen|gaan)\s+(?:(?:de|deze|die|het|jullie|je|jouw)\s+)?"
    rf"(?:(?:laatste|nieuwste|vorige)\s+)?{_EPISODE}\b"
    rf"|\bsamenvat\w*\b.*\b{_EPISODE}\b|\b{_EPISODE}\b.*\bsamenvat\w*"
    rf"|\bvat\b.*\b{_EPISODE}\b.*\bsamen\b"
    rf"|\bwelke\s+onderwerpen\b.*\b{_EPISODE}\b|\b{_EPISODE}\b.*\bwelke\s+onderwerpen\b",
    re.IGNORECASE | re.DOTALL,
)
OVERVIEW_WORDS = 90  # of the intro, shown cleaned for reading
# Titles are of episodes that exist: who comes next is for the captions to say.
TO_COME = re.compile(
    r"\b(?:volgende|komende|straks|binnenkort|nog\s+komen|gaat\s+komen|komt)\b", re.IGNORECASE
)
# A second question after the one about the guest: searched as a whole.
SECOND_QUESTION = re.compile(
    r"\ben\s+(?:wat|hoe|waarom|welke|welk|wie|wanneer|waar|waarover)\b|\?\s*\S", re.IGNORECASE
)
# Words of a "who was the guest" question that say nothing about which episode.
_NOT_A_TOPIC = frozenset(
    """wie wat was is waren zijn de het een er te gast gasten in bij deze die dit dat
    aflevering afleveringen podcast podcasts van ai report met interview interviews gesprek
    gesprekken geïnterviewd geinterviewd werd wordt worden zat zaten aan tafel jullie welke
    jij je jouw ik we wij daar toen eigenlijk ook nog hier over weet weten geweest al
    allemaal ooit waar waarover ging gaat gingen gaan kun kunt kan samenvatten samenvatting
    vat samen onderwerpen uitzending laatste nieuwste vorige week""".split()
)
# "Welke afleveringen ken je?", "Over welke afleveringen weet je iets?", "Hoeveel
# afleveringen zijn er?" (but not "Welke afleveringen zijn er over DeepSeek?").
WHICH_EPISODES_EXIST = re.compile(
    r"^\W*(?:over\s+|van\s+)?(?:welke|hoeveel)\s+afleveringen\s+(?:ken|kent|ken\s+je|heb\s+je"
    r"|hebben\s+jullie|zijn\s+er|weet\s+je|zitten|staan|bevat|bevatten)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
ABOUT_SOMETHING = re.compile(r"\b(?:over|waarin|met|die|dat|waar)\b", re.IGNORECASE)
NAME_PARTICLES = frozenset({"van", "der", "den", "de", "ter", "te", "het", "la", "le", "von"})
MAX_LISTED = 8


def asks_for_the_episodes(question: str) -> bool:
    match = WHICH_EPISODES_EXIST.match(question.strip())
    return match is not None and not ABOUT_SOMETHING.search(match.group("rest"))


def about_the_archive(question: str) -> bool:
    """Whether `question` may be one the episode list answers (cheap: before any lookup)."""
    if asks_for_the_episodes(question):
        return True
    if TO_COME.search(question) or SECOND_QUESTION.search(question):
        return False
    asks_episode = WHICH_EPISODE.search(question) and APPEARED.search(question)
    return bool(OVERVIEW.search(question) or asks_episode or WHO_WAS_THE_GUEST.search(question))


# A reply that picks an item of the list "Welke aflevering bedoel je?" gave: "2", "de
# tweede", "nummer 2".
PICK = re.compile(
    r"^\W*(?:(?:de|nummer|nr\.?)\s*)?(?:(?P<n>\d{1,2})(?:e|de|ste)?|(?P<word>eerste|tweede|"
    r"derde|vierde|vijfde|zesde|zevende|achtste))(?:\s+(?:aflevering|graag|dan|die))*\W*$",
    re.IGNORECASE,
)
# A message that opens like a question asks something new, whatever words it shares
# with a title.
ASKS = re.compile(
    r"\W*(?:wat|wie|waar\w*|hoe|waarom|wanneer|welke?|kun|kan|kunnen|is|zijn|was|waren|"
    r"heeft|hebben|had|zegt|zei|vindt|vond|vinden|gaat|ging|moet|mag|wil|weet)\b",
    re.IGNORECASE,
)
ORDINALS = ("eerste", "tweede", "derde", "vierde", "vijfde", "zesde", "zevende", "achtste")
LISTED = re.compile(r"„([^”]+)” \[(\d+)\]")


def picked_from_list(message: str, history: Sequence[Turn] | None) -> tuple[str, str] | None:
    """(the earlier question, the title picked) when `message` picks an item of the
    list the previous answer asked to choose from; None otherwise."""
    if not history or not history[-1].answer.startswith(nl.WHICH_EPISODE_PREFIX):
        return None
    titles = {int(n): title for title, n in LISTED.findall(history[-1].answer)}
    match = PICK.match(message)
    if match is None:
        title = _named_title(message, list(titles.values()))
    else:
        number = int(match["n"]) if match["n"] else ORDINALS.index(match["word"].lower()) + 1
        title = titles.get(number)
    return (history[-1].question, title) if title else None


def _named_title(message: str, titles: list[str]) -> str | None:
    """The one title holding every word of `message` ("die over robots", "de aflevering
    met Anna de Vries"; "aflevering" itself aside), as the list asked for; a message
    with a word no title has, or that opens like a question ("Wat zegt Anna over
    robots?"), asks something new."""
    if ASKS.match(message):
        return None
    words = set(search_tokens(EPISODE_WORD.sub(" ", message)))
    holding = [t for t in titles if words and words <= set(search_tokens(t))]
    return holding[0] if len(holding) == 1 else None


@dataclass
class CatalogueAnswer:
    text: str
    citations: list[Citation]


class Catalogue:
    """The indexed episodes: their titles, the guests the titles name, their intros."""

    def __init__(
        self,
        index: SearchIndex,
        speakers: Speakers,
        intro_ends: dict[str, int] | None = None,
        fix_names: Callable[[str], str] | None = None,
    ) -> None:
        self.index = index
        self.intro_ends = intro_ends or {}
        self.fix_names = fix_names
        self.with_guests: list[tuple[EpisodeInfo, list[str]]] = [
            (episode, guests)
            for episode in index.episodes.values()
            if (guests := speakers.guests_of(episode.title))
        ]

    def answer(
        self, question: str, search: Callable[[str], Retrieval | None], chosen: str | None = None
    ) -> CatalogueAnswer | None:
        """The answer from the episode list, or None: not a question about the archive,
        or one it cannot answer (then the captions are searched). `chosen`: the title
        the user picked from the list an earlier answer to `question` gave."""
        if chosen is not None:
            return self._answer_for(question, chosen)
        if not self.index.episodes or not about_the_archive(question):
            return None  # nothing indexed: the search says so
        if asks_for_the_episodes(question):
            return self._episode_list()
        if OVERVIEW.search(question):
            return self._overview(question, search)
        if not self.with_guests:
            return None
        named = self._named_in(question)
        if named and WHICH_EPISODE.search(question) and APPEARED.search(question):
            return self._episodes_of(named)
        if not named and WHO_WAS_THE_GUEST.search(question):
            return self._guests_of(question, search)
        return None

    def _answer_for(self, question: str, title: str) -> CatalogueAnswer | None:
        episode = next((e for e in self.index.episodes.values() if e.title == title), None)
        if episode is None:
            return None
        if OVERVIEW.search(question):
            return self._overview_of(episode)
        guests = self._guests(episode.id)
        return self._guest_of(episode, guests) if guests else None

    def _overview(
        self, question: str, search: Callable[[str], Retrieval | None]
    ) -> CatalogueAnswer | None:
        """What the episode the question means is about: the episode whose guest it
        names, else the one the search of its topic puts first; with no topic and several
        episodes, which one?"""
        named = list({ep.id: ep for ep, _ in self._named_in(question)}.values())
        topic = _topic(question)
        if named:
            episodes = named
        elif topic:
            found = _episode_about(topic, search)
            if found is None:
                return None
            episodes = [found]
        else:
            episodes = list(self.index.episodes.values())
        if len(episodes) > 1:
            return self._episode_list(nl.EPISODES_WHICH_ONE, episodes)
        return self._overview_of(episodes[0])

    def _overview_of(self, episode: EpisodeInfo) -> CatalogueAnswer:
        end = self.intro_ends.get(episode.id)
        intro = [u for u in self._units(episode) if end is not None and u.start_char < end]
        if not intro:  # no intro found: the title says what it is about
            citation = self._citation(1, episode, "")
            return CatalogueAnswer(nl.OVERVIEW_TITLE.format(title=episode.title), [citation])
        quote = join_units(intro)
        words = MARKER_RE.split(quote, maxsplit=1)[0].split()
        excerpt = readable(" ".join(words[:OVERVIEW_WORDS]), self.fix_names)
        if intro[0].index == 0 and excerpt.startswith("…"):  # where the episode begins
            excerpt = excerpt[1:2].upper() + excerpt[2:]
        if len(words) > OVERVIEW_WORDS and not excerpt.endswith("…"):
            excerpt += "…"
        citation = _unit_citation(1, episode, intro[0], intro[-1], quote)
        text = nl.OVERVIEW_INTRO.format(title=episode.title, excerpt=excerpt)
        return CatalogueAnswer(text, [citation])

    def _episode_list(
        self, heading: str = nl.EPISODES_KNOWN, episodes: list[EpisodeInfo] | None = None
    ) -> CatalogueAnswer:
        everything = episodes or list(self.index.episodes.values())
        return self._listed(
            heading.format(count=len(everything)),
            [(episode, nl.EPISODE_LIST_ITEM, "") for episode in everything],
        )

    def _listed(self, heading: str, items: list[tuple[EpisodeInfo, str, str]]) -> CatalogueAnswer:
        """`heading`, then at most `MAX_LISTED` of the (episode, line template, guest)
        `items`, each cited (where its captions name the guest), then how many more."""
        lines, citations = [heading], []
        for n, (episode, template, guest) in enumerate(items[:MAX_LISTED], 1):
            guests = _joined(self._guests(episode.id)) if guest else ""
            lines.append(template.format(title=episode.title, guests=guests, n=n))
            citations.append(self._citation(n, episode, guest))
        if len(items) > MAX_LISTED:
            lines.append(nl.GUESTS_MORE.format(count=len(items) - MAX_LISTED))
        return CatalogueAnswer("\n".join(lines), citations)

    def _named_in(self, question: str) -> list[tuple[EpisodeInfo, str]]:
        """(episode, guest) for each guest the question names: the full name, or a part
        of it ("Lamers", "rick"), as whole words."""
        named = []
        for episode, guests in self.with_guests:
            for guest in guests:
                pattern = phrase_pattern([guest, *_name_parts(guest)])
                if pattern is not None and pattern.search(question):
                    named.append((episode, guest))
        return named

    def _episodes_of(self, named: list[tuple[EpisodeInfo, str]]) -> CatalogueAnswer:
        episode, guest = named[0]
        if len(named) == 1:
            text = nl.GUEST_IN_EPISODE.format(guest=guest, title=episode.title, n=1)
            return CatalogueAnswer(text, [self._citation(1, episode, guest)])
        return self._listed(
            nl.GUEST_IN_EPISODES.format(guest=guest, count=len(named)),
            [(ep, nl.EPISODE_LIST_ITEM, name) for ep, name in named],
        )

    def _guests_of(
        self, question: str, search: Callable[[str], Retrieval | None]
    ) -> CatalogueAnswer | None:
        """The guests of the episode the question is about; with no topic and several
        episodes with guests, the list of them."""
        topic = _topic(question)
        if topic:
            episode = _episode_about(topic, search)
            if episode is None:
                return None
            guests = self._guests(episode.id)
            chosen = [(episode, guests)] if guests else []
        elif len(self.with_guests) == 1:
            chosen = self.with_guests
        else:
            return self._listed(
                nl.GUESTS_WHICH_EPISODE,
                [(ep, nl.GUEST_LIST_ITEM, guests[0]) for ep, guests in self.with_guests],
            )
        if not chosen:
            return None  # the episode it is about names no guest in its title
        return self._guest_of(*chosen[0])

    def _guest_of(self, episode: EpisodeInfo, guests: list[str]) -> CatalogueAnswer:
        text = nl.GUEST_OF_EPISODE.format(title=episode.title, guests=_joined(guests), n=1)
        return CatalogueAnswer(text, [self._citation(1, episode, guests[0])])

    def _guests(self, episode_id: str) -> list[str]:
        """The guests the title of the episode names (none: [])."""
        return next((g for ep, g in self.with_guests if ep.id == episode_id), [])

    def _units(self, episode: EpisodeInfo) -> list[Unit]:
        units = self.index.units
        row = self.index.unit_base.get(episode.id)
        if row is None:
            return []
        end = row
        while end < len(units) and units[end].episode_id == episode.id:
            end += 1
        return units[row:end]

    def _citation(self, n: int, episode: EpisodeInfo, guest: str) -> Citation:
        """Where the episode's captions name the guest: the full name, else the surname,
        else the first name; where they begin when they never do."""
        units = self._units(episode)
        unit = None
        for name in [guest, *reversed(_name_parts(guest))] if guest else []:
            pattern = phrase_pattern([name])
            unit = next((u for u in units if pattern and pattern.search(u.text)), None)
            if unit is not None:
                break
        unit = unit or (units[0] if units else None)
        if unit is None:  # no captions indexed: cite the title alone
            return Citation(
                n, episode.id, episode.title, episode.link(), episode.source_file, 0, 0, None, ""
            )
        return _unit_citation(n, episode, unit, unit, unit.text)


def _unit_citation(n: int, episode: EpisodeInfo, first: Unit, last: Unit, quote: str) -> Citation:
    """A citation of the units `first` to `last` (`quote`: their text as it stands)."""
    return span_citation(
        n, episode, first.start_char, last.end_char, first.start_time, quote, first.first_word
    )


def _name_parts(name: str) -> list[str]:
    """The parts of a name that name someone alone: "Lamers", "Rick", not "de"."""
    return [p for p in name.split() if p.lower() not in NAME_PARTICLES and len(p) > 2]


def _episode_about(topic: str, search: Callable[[str], Retrieval | None]) -> EpisodeInfo | None:
    """The episode the search of `topic` puts first, if it finds any."""
    retrieval = search(topic)
    return retrieval.fragments[0].episode if retrieval and retrieval.fragments else None


def _topic(question: str) -> str:
    """The words of a question about the archive that say which episode it means."""
    words = re.findall(r"[\w'-]+", question.lower())
    return " ".join(w for w in words if w not in _NOT_A_TOPIC)


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " en " + names[-1]
