"""Found / unsure / not-found cut-offs, fitted on a question set and checked by cross-validation.

The verdict reads one score per question (the best passage's score, `rag.passages`).
Cut-offs are not read off a plot: a rule fits them on labelled questions, and
`aireport eval FILE --folds K` shows how the rule does on folds it was not fitted on.
The rule sets the cut-offs from the answerable questions alone: `found_score` is
the score below which `DOUBT_RATE` of them fall, `unsure_score` the one below which
`NOT_FOUND_RATE` fall. The error we promise to readers ("an answerable question is
hedged or refused at most this often") then carries over to new questions as long
as their scores look like the fitting set's; how many unanswerable questions fall
below the cut-offs is what the cross-validation measures.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rag.retrieval import Verdict, VerdictThresholds

DOUBT_RATE = 0.10
NOT_FOUND_RATE = 0.03


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of `values` (q in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def fit_thresholds(
    answerable: Sequence[float],
    doubt_rate: float = DOUBT_RATE,
    not_found_rate: float = NOT_FOUND_RATE,
) -> VerdictThresholds:
    """Cut-offs that hedge `doubt_rate` and refuse `not_found_rate` of answerable questions."""
    return VerdictThresholds(
        found_score=round(quantile(answerable, doubt_rate), 4),
        unsure_score=round(quantile(answerable, not_found_rate), 4),
    )


def verdict_of(score: float, t: VerdictThresholds, missing_quantity: bool = False) -> Verdict:
    """The verdict of a best-passage score; not found when the question asks for a number
    the passage lacks (`rag.answer_type`), as the retriever decides."""
    if score >= t.found_score:
        verdict = Verdict.FOUND
    else:
        verdict = Verdict.UNSURE if score >= t.unsure_score else Verdict.NOT_FOUND
    return Verdict.NOT_FOUND if missing_quantity else verdict


@dataclass
class Rates:
    answerable_doubted: float  # hedged or not found
    answerable_not_found: float
    unanswerable_refused: float  # hedged or not found
    unanswerable_not_found: float

    def row(self, label: str) -> str:
        return (
            f"{label:<34} {self.answerable_doubted:>8.3f} {self.answerable_not_found:>8.3f} "
            f"{self.unanswerable_refused:>8.3f} {self.unanswerable_not_found:>8.3f}"
        )


def rates(scored: Sequence[tuple[float, bool, bool]], t: VerdictThresholds) -> Rates:
    """Verdict rates of (score, answerable, missing quantity) under cut-offs `t`."""
    return verdict_rates([(a, verdict_of(s, t, m)) for s, a, m in scored])


def verdict_rates(verdicts: Sequence[tuple[bool, Verdict]]) -> Rates:
    """Rates of (answerable, verdict) pairs."""
    ans = [v for a, v in verdicts if a]
    un = [v for a, v in verdicts if not a]

    def share(vs: list[Verdict], kinds: set[Verdict]) -> float:
        return sum(v in kinds for v in vs) / len(vs) if vs else float("nan")

    doubt = {Verdict.UNSURE, Verdict.NOT_FOUND}
    return Rates(
        share(ans, doubt),
        share(ans, {Verdict.NOT_FOUND}),
        share(un, doubt),
        share(un, {Verdict.NOT_FOUND}),
    )


def auc(scored: Sequence[tuple[str, float, bool, bool]]) -> float:
    """How often an answerable question scores above an unanswerable one (ties half)."""
    pos = [s for _, s, a, _ in scored if a]
    neg = [s for _, s, a, _ in scored if not a]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def fold_of(item_id: str, folds: int) -> int:
    """A stable fold per question id (independent of file order)."""
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % folds


def cross_validate(results: Sequence, folds: int, reranker: bool = False) -> str:
    """Fit on k-1 folds, judge the held-out fold; pooled held-out rates as a report.

    With `reranker`, the cut-offs of the reranker's scores (`rag.rerank`:
    `RERANK_FOUND_SCORE`, `RERANK_UNSURE_SCORE`), fitted on the questions it scored."""
    scored = [
        (
            r.item.id,
            (r.answer.rerank_score if reranker else r.answer.verdict_score) or 0.0,
            r.item.answerable,
            r.answer.missing_quantity,
        )
        for r in results
        if not reranker or r.answer.rerank_score is not None
    ]
    held_out: list[tuple[bool, Verdict]] = []
    lines = []
    for k in range(folds):
        train = [s for i, s, a, _ in scored if fold_of(i, folds) != k and a]
        test = [(s, a, m) for i, s, a, m in scored if fold_of(i, folds) == k]
        if not train or not test:
            continue
        t = fit_thresholds(train)
        held_out += [(a, verdict_of(s, t, m)) for s, a, m in test]
        lines.append(f"  fold {k}: found_score={t.found_score} unsure_score={t.unsure_score}")
    pooled = verdict_rates(held_out)
    everything = fit_thresholds([s for _, s, a, _ in scored if a])
    columns = ("ans:doub", "ans:nf", "un:refu", "un:nf")
    head = f"{'cut-offs (verdict rates)':<34} " + " ".join(f"{c:>8}" for c in columns)
    whose = "the reranker's cut-offs" if reranker else "the verdict cut-offs"
    settings = "RERANK_" if reranker else ""
    return "\n".join(
        [
            f"cross-validation of {whose} ({folds} folds, {len(scored)} questions):",
            head,
            pooled.row("held-out folds, pooled"),
            rates([(s, a, m) for _, s, a, m in scored], everything).row(
                "fitted on all (in-sample)"
            ),
            f"fitted on all: {settings}FOUND_SCORE={everything.found_score} "
            f"{settings}UNSURE_SCORE={everything.unsure_score}",
            f"separation (AUC, answerable above unanswerable): {auc(scored):.3f}",
            *lines,
        ]
    )
