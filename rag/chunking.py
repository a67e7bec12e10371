"""Cut episodes into overlapping windows for retrieval.

Auto-captions have no sentence punctuation, so windows are counted in words.
An episode is first cut into short consecutive *units* (about 40 words; they
are the quotable pieces), and a *chunk* is a run of units (about 320 words)
that overlaps its neighbour by a quarter. Both carry offsets into the source
text, so `text[start_char:end_char]` is the chunk (or unit) as it stands in
the file, and the start time when the transcript has timestamps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rag.transcripts import Episode


@dataclass(frozen=True)
class ChunkerConfig:
    unit_words: int = 40
    chunk_units: int = 8
    overlap_units: int = 2
    # Words in an episode's first unit (0: `unit_words`), so every later cut moves: the
    # evaluation measures with it how much retrieval depends on where the cuts fall.
    first_unit_words: int = 0

    def __post_init__(self) -> None:
        if self.unit_words < 1 or self.chunk_units < 1:
            raise ValueError("unit_words and chunk_units must be positive")
        if not 0 <= self.overlap_units < self.chunk_units:
            raise ValueError("overlap_units must be smaller than chunk_units")
        if self.first_unit_words < 0:
            raise ValueError("first_unit_words must be 0 (unset) or positive")

    def as_dict(self) -> dict:
        """The config as the manifest records it; unset options are left out, so an index
        built before they existed stays compatible."""
        config = asdict(self)
        if not self.first_unit_words:
            del config["first_unit_words"]
        return config

    def cuts(self, n_words: int) -> list[int]:
        """The first word of each unit of an `n_words`-word episode."""
        first = self.first_unit_words or self.unit_words
        return [0, *range(first, n_words, self.unit_words)] if n_words else []


@dataclass
class Unit:
    """A short, quotable window of an episode."""

    episode_id: str
    index: int  # position within the episode
    first_word: int
    last_word: int  # exclusive
    start_char: int
    end_char: int
    start_time: float | None
    text: str
    # The source text between this unit and the next (usually one space), so a run of
    # units can be put back together exactly as it stands in the file.
    gap_after: str = ""


def join_units(units: list[Unit]) -> str:
    """Text of consecutive units as in the source (prose) or as joined cue words."""
    return "".join(u.text + u.gap_after for u in units[:-1]) + (units[-1].text if units else "")


@dataclass
class Chunk:
    """A retrieval window: `units` consecutive units of one episode."""

    id: str
    episode_id: str
    source_file: str
    index: int
    first_unit: int
    last_unit: int  # exclusive
    start_char: int
    end_char: int
    start_time: float | None
    end_time: float | None
    text: str

    @property
    def word_count(self) -> int:
        return len(self.text.split())


def make_units(episode: Episode, config: ChunkerConfig) -> list[Unit]:
    units = []
    n_words = len(episode.words)
    cuts = config.cuts(n_words)
    for index, (first, last) in enumerate(zip(cuts, [*cuts[1:], n_words], strict=True)):
        units.append(
            Unit(
                episode_id=episode.id,
                index=index,
                first_word=first,
                last_word=last,
                start_char=episode.words[first][0],
                end_char=episode.words[last - 1][1],
                start_time=episode.time_at(first),
                text=episode.span_text(first, last),
            )
        )
    for unit, following in zip(units, units[1:], strict=False):
        unit.gap_after = (
            " " if episode.timestamped else episode.text[unit.end_char : following.start_char]
        )
    # A tiny tail unit quotes badly: fold it into its predecessor.
    if len(units) > 1 and units[-1].last_word - units[-1].first_word < config.unit_words // 3:
        tail = units.pop()
        prev = units[-1]
        units[-1] = Unit(
            episode_id=episode.id,
            index=prev.index,
            first_word=prev.first_word,
            last_word=tail.last_word,
            start_char=prev.start_char,
            end_char=tail.end_char,
            start_time=prev.start_time,
            text=episode.span_text(prev.first_word, tail.last_word),
        )
    return units


def make_chunks(episode: Episode, units: list[Unit], config: ChunkerConfig) -> list[Chunk]:
    stride = config.chunk_units - config.overlap_units
    chunks: list[Chunk] = []
    first = 0
    while first < len(units):
        last = min(first + config.chunk_units, len(units))
        head, tail = units[first], units[last - 1]
        chunks.append(
            Chunk(
                id=f"{episode.id}#{len(chunks)}",
                episode_id=episode.id,
                source_file=episode.source_file,
                index=len(chunks),
                first_unit=first,
                last_unit=last,
                start_char=head.start_char,
                end_char=tail.end_char,
                start_time=head.start_time,
                end_time=episode.time_at(tail.last_word - 1),
                text=episode.span_text(head.first_word, tail.last_word),
            )
        )
        if last == len(units):
            break
        first += stride
    return chunks


def chunk_episode(episode: Episode, config: ChunkerConfig) -> tuple[list[Unit], list[Chunk]]:
    """Units and chunks of one episode."""
    units = make_units(episode, config)
    return units, make_chunks(episode, units, config)
