"""Example questions drawn from the indexed episodes, for `/start` and hints."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from bot import messages as msg

if TYPE_CHECKING:
    from rag.index import SearchIndex

# Title segments and tags that name the show or the source, not a topic.
NOT_TOPICS = re.compile(r"^(ai[ -]?report|youtube|transcript|podcast|aflevering \d+)$", re.I)
TITLE_SEPARATORS = re.compile(r"\s*(?:\+|\||•|·| - | – )\s*")
MAX_TOPIC_CHARS = 70


def topics(index: SearchIndex | None) -> list[str]:
    """Topics named in episode titles ("A + B | AI Report") and tags, without duplicates."""
    if index is None:
        return []
    found: dict[str, None] = {}
    for episode in index.episodes.values():
        candidates = TITLE_SEPARATORS.split(episode.title)
        candidates += [tag.replace("-", " ") for tag in episode.tags]
        for topic in (c.strip(" .,:;!?") for c in candidates):
            if 3 <= len(topic) <= MAX_TOPIC_CHARS and not NOT_TOPICS.match(topic):
                found.setdefault(topic, None)
    return list(found)


def example_questions(
    index: SearchIndex | None, count: int = 3, rng: random.Random | None = None
) -> list[str]:
    """`count` example questions about indexed topics, topped up with general ones."""
    rng = rng or random.Random()
    pool = topics(index)
    picked = rng.sample(pool, min(count, len(pool)))
    questions = [msg.EXAMPLE_QUESTION.format(topic=topic) for topic in picked]
    questions += list(msg.EXAMPLE_FALLBACKS[: count - len(questions)])
    return questions
