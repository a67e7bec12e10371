"""`aireport eval`: retrieval and answer quality on a JSONL question set."""

from __future__ import annotations

import math
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rag.answer import Answer, Citation
from rag.inputs import json_lines
from rag.support import SUPPORTED
from rag.transcripts import quote_in_source, read_source_text
from rag.types import AnswerMode, Verdict

MARKER_RE = re.compile(r"\[(\d+)\]")
T = TypeVar("T")


@dataclass
class EvalItem:
    id: str
    question: str
    answerable: bool
    evidence: list[str]
    offsets: list[int]
    key_facts: list[list[str]]
    category: str
    style: str
    source_file: str | None = None

    @classmethod
    def from_json(cls, raw: dict) -> EvalItem:
        return cls(
            id=str(raw.get("id", "")),
            question=raw["question"],
            answerable=bool(raw.get("answerable", True)),
            evidence=list(raw.get("evidence") or []),
            offsets=list(raw.get("offset") or []),
            key_facts=[list(alts) for alts in raw.get("key_facts") or []],
            category=raw.get("category", "-"),
            style=raw.get("style", "-"),
            source_file=raw.get("source_file"),
        )


def load_items(path: Path) -> list[EvalItem]:
    """A JSONL question set; `rag.inputs.InputFileError` names a line that is not one."""
    return [EvalItem.from_json(raw) for raw in json_lines(path)]


@dataclass
class ItemResult:
    item: EvalItem
    answer: Answer
    span_ranks: list[int | None]  # rank of the first fragment covering each span
    facts_found: int
    citations_valid: int
    hedged: bool
    markers: int = 0  # `[n]` markers the composer wrote, including ones it had to drop
    markers_valid: int = 0
    # Key facts in the source text of the retrieved fragments: what the composer had to
    # choose from (`facts_found` against this says whether facts are lost in retrieval or
    # in choosing what to show).
    context_facts: int = 0
    # Per span: wholly inside one fragment (`span_ranks` counts one at least half inside).
    spans_whole: list[bool] = field(default_factory=list)

    @property
    def support_scores(self) -> list[float]:
        """Support of the LLM's judged cited sentences (removed ones included); none for
        extractive answers, whose quotes are the source (support 1 by construction)."""
        return [s.score for s in self.answer.support or [] if s.score is not None]

    @property
    def refused(self) -> bool:
        """Not answered, or answered only with a clear hedge."""
        return not self.answer.found or self.hedged


@dataclass
class Summary:
    n: int = 0
    recall: float | None = None
    all_spans_recall: float | None = None
    mrr: float | None = None
    key_fact_coverage: float | None = None
    context_fact_coverage: float | None = None
    refusal_rate: float | None = None
    false_refusal_rate: float | None = None
    hedged_answerable_rate: float | None = None
    citation_validity: float | None = None
    marker_validity: float | None = None
    # LLM answers only (`rag.support`): judged cited sentences, the share of them whose
    # cited fragments support them, and their mean support score.
    support_checked: int = 0
    support_share: float | None = None
    support_mean: float | None = None
    llm_share: float | None = None
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    extra: dict = field(default_factory=dict)


def span_rank(
    answer: Answer, item: EvalItem, evidence: str, offset: int, share: float = 0.5
) -> int | None:
    """Rank of the first retrieved fragment covering at least `share` of the span (half
    for `recall`; all of it, `share=1`, for `whole`)."""
    start, end = offset, offset + len(evidence)
    for fragment in answer.retrieved:
        if item.source_file and fragment.source_file != item.source_file:
            continue
        overlap = min(end, fragment.end_char) - max(start, fragment.start_char)
        if overlap >= share * len(evidence):
            return fragment.rank
    return None


def facts_in(text: str, key_facts: list[list[str]]) -> int:
    lowered = text.lower()
    return sum(any(alt.lower() in lowered for alt in alts) for alts in key_facts)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class CitationChecker:
    """Checks that each citation's quote stands in its source file at its offsets."""

    def __init__(self, transcripts_dir: Path) -> None:
        self.transcripts_dir = transcripts_dir
        self._texts: dict[str, str | None] = {}

    def valid(self, answer: Answer) -> int:
        return sum(self.quote_ok(c) for c in answer.citations)

    def _source(self, source_file: str) -> str | None:
        if source_file not in self._texts:
            path = self.transcripts_dir / source_file
            self._texts[source_file] = read_source_text(path) if path.is_file() else None
        return self._texts[source_file]

    def quote_ok(self, c: Citation) -> bool:
        text = self._source(c.source_file)
        if text is None or not c.quote:
            return False
        return quote_in_source(c.quote, text, c.start_char, c.end_char)

    def context(self, answer: Answer) -> str:
        """The source text of the fragments retrieved for `answer`, one per line."""
        parts = []
        for f in answer.retrieved:
            text = self._source(f.source_file)
            if text is not None:
                parts.append(text[f.start_char : f.end_char])
        return "\n".join(parts)

    def markers(self, answer: Answer) -> tuple[int, int]:
        """(markers written, markers valid): a valid `[n]` resolves to a citation whose
        quote lies inside a fragment given to the composer and stands verbatim in that
        fragment's source text. Markers the LLM invented (dropped before the reader saw
        them) count as written and invalid."""
        by_n = {c.n: c for c in answer.citations}
        numbers = [int(n) for n in MARKER_RE.findall(answer.text)]
        valid = sum(
            n in by_n and _in_given_fragment(by_n[n], answer) and self.quote_ok(by_n[n])
            for n in numbers
        )
        return len(numbers) + answer.dropped_markers, valid


def _in_given_fragment(c: Citation, answer: Answer) -> bool:
    return any(
        f.source_file == c.source_file and f.start_char <= c.start_char and c.end_char <= f.end_char
        for f in answer.retrieved
    )


def evaluate_item(item: EvalItem, answer: Answer, checker: CitationChecker) -> ItemResult:
    spans = list(zip(item.evidence, item.offsets, strict=False))
    markers, markers_valid = checker.markers(answer)
    return ItemResult(
        item=item,
        answer=answer,
        span_ranks=[span_rank(answer, item, e, o) for e, o in spans],
        spans_whole=[span_rank(answer, item, e, o, share=1.0) is not None for e, o in spans],
        facts_found=facts_in(answer.text, item.key_facts),
        context_facts=facts_in(checker.context(answer), item.key_facts) if item.key_facts else 0,
        citations_valid=checker.valid(answer),
        # The "closest match" intro belongs to the extractive answer; an LLM words its
        # own hedges, which this check cannot see.
        hedged=(
            answer.found
            and answer.verdict == Verdict.UNSURE
            and answer.mode == AnswerMode.EXTRACTIVE
        ),
        markers=markers,
        markers_valid=markers_valid,
    )


def summarise(results: list[ItemResult]) -> Summary:
    answerable = [r for r in results if r.item.answerable]
    unanswerable = [r for r in results if not r.item.answerable]
    spans = [rank for r in answerable for rank in r.span_ranks]
    multi = [r for r in answerable if len(r.span_ranks) > 1]
    with_facts = [r for r in answerable if r.item.key_facts]
    cited = sum(len(r.answer.citations) for r in results)
    markers = sum(r.markers for r in results)
    latencies = [r.answer.timings_ms.get("total", 0.0) for r in results]
    scores = [score for r in results for score in r.support_scores]
    return Summary(
        n=len(results),
        recall=_mean(rank is not None for rank in spans),
        all_spans_recall=_mean(all(x is not None for x in r.span_ranks) for r in multi),
        mrr=_mean(1 / rank if rank else 0.0 for rank in spans),
        key_fact_coverage=_mean(r.facts_found / len(r.item.key_facts) for r in with_facts),
        context_fact_coverage=_mean(r.context_facts / len(r.item.key_facts) for r in with_facts),
        refusal_rate=_mean(r.refused for r in unanswerable),
        false_refusal_rate=_mean(not r.answer.found for r in answerable),
        hedged_answerable_rate=_mean(r.hedged for r in answerable),
        citation_validity=(sum(r.citations_valid for r in results) / cited) if cited else None,
        marker_validity=(sum(r.markers_valid for r in results) / markers) if markers else None,
        support_checked=len(scores),
        support_share=_mean(score >= SUPPORTED for score in scores),
        support_mean=_mean(scores),
        llm_share=_mean(r.answer.mode == AnswerMode.LLM for r in results),
        latency_p50_ms=percentile(latencies, 50) or 0.0,
        latency_p95_ms=percentile(latencies, 95) or 0.0,
    )


def run_eval(
    items: list[EvalItem],
    ask: Callable[[str], Answer],
    transcripts_dir: Path,
    on_result: Callable[[ItemResult], None] | None = None,
) -> tuple[Summary, dict[str, Summary], list[ItemResult]]:
    """Ask every question; return the overall summary, one per category/style, and items."""
    checker = CitationChecker(transcripts_dir)
    results = []
    for item in items:
        result = evaluate_item(item, ask(item.question), checker)
        results.append(result)
        if on_result:
            on_result(result)
    groups: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        groups[f"category={r.item.category}"].append(r)
        groups[f"style={r.item.style}"].append(r)
    return summarise(results), {k: summarise(v) for k, v in sorted(groups.items())}, results


def _fmt(value: float | None) -> str:
    return "   -" if value is None else f"{value:.3f}"


def support_line(s: Summary) -> str:
    """The support figure in words (or why there is none)."""
    if not s.support_checked:
        return (
            "support: not measured (no LLM sentence with [n] was checked; an extractive answer "
            "quotes its source, so its support is 1 by construction)"
        )
    return (
        f"support: {s.support_checked} cited LLM sentences, {_fmt(s.support_share)} supported "
        f"(>= {SUPPORTED:.2f} of their content words in the cited fragments), mean "
        f"{_fmt(s.support_mean)}"
    )


def format_report(overall: Summary, groups: dict[str, Summary], mode: str) -> str:
    head = (
        f"{'group':<22} {'n':>3} {'recall':>6} {'allsp':>6} {'mrr':>6} {'facts':>6} "
        f"{'cfacts':>6} {'refuse':>6} {'falsref':>7} {'hedged':>6} {'cites':>6} {'marks':>6} "
        f"{'supp':>6} {'msupp':>6} {'llm':>6} {'p50ms':>7} {'p95ms':>7}"
    )
    rows = [f"mode: {mode}", support_line(overall), head]
    for name, s in [("overall", overall), *groups.items()]:
        rows.append(
            f"{name:<22} {s.n:>3} {_fmt(s.recall):>6} {_fmt(s.all_spans_recall):>6} "
            f"{_fmt(s.mrr):>6} {_fmt(s.key_fact_coverage):>6} "
            f"{_fmt(s.context_fact_coverage):>6} {_fmt(s.refusal_rate):>6} "
            f"{_fmt(s.false_refusal_rate):>7} {_fmt(s.hedged_answerable_rate):>6} "
            f"{_fmt(s.citation_validity):>6} {_fmt(s.marker_validity):>6} "
            f"{_fmt(s.support_share):>6} {_fmt(s.support_mean):>6} {_fmt(s.llm_share):>6} "
            f"{s.latency_p50_ms:>7.0f} {s.latency_p95_ms:>7.0f}"
        )
    rows.append(
        "recall: evidence spans with a retrieved fragment covering half of them; allsp: multi-"
        "span items with every span found; facts: key facts in the answer; cfacts: key facts "
        "in the retrieved context (what the answer could have shown); refuse: unanswerable "
        "not answered or hedged; falsref: answerable answered 'not found'; hedged: answerable "
        "answered with the extractive 'closest match' hedge; cites: citations whose quote stands "
        "at their offsets in the source; marks: [n] markers (invented ones included) that "
        "resolve to a given fragment whose source text holds the cited quote (always so for "
        "extractive answers); supp: LLM sentences with [n] whose cited fragments hold at least "
        f"{SUPPORTED:.0%} of their content words (removed ones included), msupp: their mean "
        "share; '-' without LLM answers: an extractive answer quotes its source, so its "
        "support is 1 by construction, not measured; llm: answers written by the LLM (the "
        "rest are extractive, or fell back)."
    )
    return "\n".join(rows)


def summary_json(overall: Summary, groups: dict[str, Summary]) -> dict:
    return {"overall": overall.__dict__, "groups": {k: v.__dict__ for k, v in groups.items()}}


@dataclass
class Headline:
    """The numbers the README reports per question set, pipeline and corpus."""

    label: str
    n: int
    recall: float | None
    whole: float | None  # evidence spans wholly inside one fragment
    paraphrase_recall: float | None
    multi_all: float | None
    mrr: float | None
    refused: float | None  # unanswerable: not found or hedged
    clean_not_found: float | None  # unanswerable: verdict not_found
    doubted: float | None  # answerable: hedged or not found
    facts: float | None
    context_facts: float | None  # key facts in the context (what the answer could show)
    p50_ms: float | None
    # 95% bootstrap interval per column of `HEADLINE_COLUMNS` (`headline_intervals`)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def headline(label: str, results: list[ItemResult], answers: bool = True) -> Headline:
    """Headline numbers; `answers=False` for retrieval-only pipelines (the baseline)."""
    answerable = [r for r in results if r.item.answerable]
    unanswerable = [r for r in results if not r.item.answerable]
    para = [rank for r in answerable if r.item.style == "paraphrase" for rank in r.span_ranks]
    multi = [r for r in answerable if len(r.span_ranks) > 1]
    s = summarise(results)
    return Headline(
        label=label,
        n=len(results),
        recall=s.recall,
        whole=_mean(w for r in answerable for w in r.spans_whole),
        paraphrase_recall=_mean(rank is not None for rank in para),
        multi_all=_mean(all(x is not None for x in r.span_ranks) for r in multi),
        mrr=s.mrr,
        refused=s.refusal_rate if answers else None,
        clean_not_found=_mean(not r.answer.found for r in unanswerable) if answers else None,
        doubted=_mean(not r.answer.found or r.hedged for r in answerable) if answers else None,
        facts=s.key_fact_coverage if answers else None,
        context_facts=s.context_fact_coverage,
        p50_ms=s.latency_p50_ms if answers else None,
    )


HEADLINE_COLUMNS = (
    ("recall", "recall"),
    ("whole", "whole"),
    ("paraphrase_recall", "para"),
    ("multi_all", "multi"),
    ("mrr", "mrr"),
    ("refused", "refuse"),
    ("clean_not_found", "notfnd"),
    ("doubted", "doubt"),
    ("facts", "facts"),
    ("context_facts", "cfacts"),
)


def format_headlines(rows: list[Headline]) -> str:
    width = max(len(r.label) for r in rows) + 1
    head = f"{'':<{width}} {'n':>4} " + " ".join(f"{name:>6}" for _, name in HEADLINE_COLUMNS)
    lines = [head + f" {'p50ms':>6}"]
    for r in rows:
        cells = " ".join(f"{_fmt(getattr(r, key)):>6}" for key, _ in HEADLINE_COLUMNS)
        p50 = "     -" if r.p50_ms is None else f"{r.p50_ms:>6.0f}"
        lines.append(f"{r.label:<{width}} {r.n:>4} {cells} {p50}")
    lines.append(
        "recall: evidence spans at least half inside a fragment of the context; whole: wholly "
        "inside one; para: recall of paraphrased questions; multi: multi-passage questions "
        "with every span in the context (at least half); refuse: unanswerable answered "
        "'not found' or hedged; notfnd: unanswerable answered a clean 'not found'; doubt: "
        "answerable answered with the hedge or 'not found'; facts: key facts in the answer text; "
        "cfacts: key facts in the context the answer was chosen from."
    )
    return "\n".join(lines)


BOOTSTRAP_ROUNDS = 1000


def _middle95(values: list[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of bootstrap draws."""
    values = sorted(values)
    return values[int(0.025 * (len(values) - 1))], values[math.ceil(0.975 * (len(values) - 1))]


def _bootstrap(
    items: Sequence[T],
    answerable: Callable[[T], bool],
    measure: Callable[[list[T]], dict[str, float]],
    rounds: int,
    seed: int,
) -> dict[str, tuple[float, float]]:
    """95% intervals of `measure` over `items` resampled with replacement, answerable and
    unanswerable ones apart (so every rate keeps its denominator); seeded, so a rerun
    prints the same intervals."""
    rng = random.Random(seed)
    strata = [[i for i in items if answerable(i)], [i for i in items if not answerable(i)]]
    draws: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        sample = [rng.choice(stratum) for stratum in strata for _ in stratum]
        for key, value in measure(sample).items():
            draws[key].append(value)
    return {key: _middle95(values) for key, values in draws.items()}


def _headline_values(results: list[ItemResult], answers: bool) -> dict[str, float]:
    row = headline("", results, answers)
    values = {key: getattr(row, key) for key, _ in HEADLINE_COLUMNS}
    return {key: value for key, value in values.items() if value is not None}


def headline_intervals(
    results: list[ItemResult], answers: bool = True, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% intervals of the headline numbers: how far a number can move with another
    draw of questions of the same kind."""
    return _bootstrap(
        results,
        lambda r: r.item.answerable,
        lambda sample: _headline_values(sample, answers),
        rounds,
        seed,
    )


PAIRED_COLUMNS = ("recall", "whole", "paraphrase_recall", "multi_all", "mrr", "context_facts")


def paired_differences(
    product: list[ItemResult],
    baseline: list[ItemResult],
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Product minus baseline on the retrieval numbers, with a 95% interval from
    resampling the same questions for both (paired: the two ran on the same questions,
    in the same order). An interval above zero: ahead on questions of this kind, not
    only on these."""
    if [r.item.id for r in product] != [r.item.id for r in baseline]:
        raise ValueError("paired results must be for the same questions in the same order")

    def diff(sample: list[tuple[ItemResult, ItemResult]]) -> dict[str, float]:
        a = _headline_values([x for x, _ in sample], answers=False)
        b = _headline_values([y for _, y in sample], answers=False)
        return {key: a[key] - b[key] for key in PAIRED_COLUMNS if key in a and key in b}

    pairs = list(zip(product, baseline, strict=True))
    point = diff(pairs)
    spread = _bootstrap(pairs, lambda p: p[0].item.answerable, diff, rounds, seed)
    return {key: (value, *spread[key]) for key, value in point.items() if key in spread}


def format_paired(differences: dict[str, dict[str, tuple[float, float, float]]]) -> str:
    if not differences:
        return ""
    names = dict(HEADLINE_COLUMNS)
    width = max(len(label) for label in differences) + 1
    head = f"{'':<{width}} " + " ".join(f"{names[k]:>19}" for k in PAIRED_COLUMNS)
    lines = [
        "product minus baseline, 95% paired intervals (the same questions resampled for both):",
        head,
    ]
    for label, diffs in differences.items():
        cells = []
        for key in PAIRED_COLUMNS:
            if key not in diffs:
                cells.append(f"{'-':>19}")
                continue
            value, lo, hi = diffs[key]
            cells.append(f"{value:+.3f} ({lo:+.2f}…{hi:+.2f})".rjust(19))
        lines.append(f"{label:<{width}} " + " ".join(cells))
    return "\n".join(lines)


def format_intervals(rows: list[Headline]) -> str:
    rows = [r for r in rows if r.intervals]
    if not rows:
        return ""
    width = max(len(r.label) for r in rows) + 1
    head = f"{'':<{width}} " + " ".join(f"{name:>11}" for _, name in HEADLINE_COLUMNS)
    lines = [
        f"95% intervals (bootstrap over questions, {BOOTSTRAP_ROUNDS:,} resamples): how far "
        "each number can move with another set of questions of the same kind.",
        head,
    ]
    for r in rows:
        cells = []
        for key, _ in HEADLINE_COLUMNS:
            lo_hi = r.intervals.get(key)
            cells.append(
                f"{'-':>11}" if lo_hi is None else f"{lo_hi[0]:.2f}–{lo_hi[1]:.2f}".rjust(11)
            )
        lines.append(f"{r.label:<{width}} " + " ".join(cells))
    return "\n".join(lines)


@dataclass
class BudgetRecall:
    """Evidence spans in the context at one budget (`EvalSuite.run_budgets`)."""

    recall: float | None
    spans: int
    spans_per_fold: list[int]
    whole: float | None = None  # spans wholly inside one fragment


def format_budgets(budgets: dict[str, dict[int, BudgetRecall]]) -> str:
    if not budgets:
        return ""
    sizes = sorted({words for cells in budgets.values() for words in cells})
    width = max(len(name) for name in budgets) + len(" whole") + 2
    lines = [
        "recall by words of context (the product; whole: spans wholly inside one fragment)",
        " " * width + "".join(f"{words:>8}" for words in sizes),
    ]
    for label, key in (("", "recall"), (" whole", "whole")):
        for name, cells in budgets.items():
            values = [getattr(cells[w], key) if w in cells else None for w in sizes]
            lines.append(
                f"{name + label:<{width}}"
                + "".join("       -" if v is None else f"{v:8.3f}" for v in values)
            )
    first, cells = next(iter(budgets.items()))
    if any(cell.spans_per_fold for cell in cells.values()):
        lines.append(f"{first}: evidence spans in the context per fold")
        for words in sizes:
            cell = cells[words]
            found = sum(cell.spans_per_fold)
            lines.append(
                f"  {words:>6} words: {' '.join(f'{n:3d}' for n in cell.spans_per_fold)}"
                f"   ({found} of {cell.spans})"
            )
    return "\n".join(lines)


def _alike(service, settings):
    """An `AnswerService` for other `settings` (another corpus, index or context size)
    sharing `service`'s embedder, composer, rewriter and planner."""
    from rag.service import AnswerService

    return AnswerService(
        settings, service.embedder, service.composer, service.rewriter, service.planner
    )


class EvalSuite:
    """`aireport eval`: question sets x (the product, the baseline) x (corpus, + distractors)."""

    def __init__(self, settings, files: list[Path], cache_dir: Path, verbose: bool = False) -> None:
        self.settings = settings
        self.sets = [(path.stem, load_items(path)) for path in files]
        self.cache_dir = cache_dir
        self.verbose = verbose
        self.mode = "-"
        self.rows: list[Headline] = []
        self.details: list[str] = []
        self.results: dict[str, list[ItemResult]] = {}
        self.cv_report: str | None = None
        self.paired: dict[str, dict[str, tuple[float, float, float]]] = {}
        self.budgets: dict[str, dict[int, BudgetRecall]] = {}
        self.recut: tuple[int, int] | None = None  # (first unit's words, unit words)

    def run(
        self, service, baseline: bool = False, distractors: int = 0, first_unit_words: int = 0
    ) -> None:
        from rag.synthetic import with_distractors

        self.mode = str(service.composer.mode)
        self._run_corpus(service, "", baseline)
        if first_unit_words:
            # The same corpus with every unit boundary moved: a second index in the cache.
            update = {
                "first_unit_words": first_unit_words,
                "index_dir": self.cache_dir / f"index-first{first_unit_words}",
            }
            recut = _alike(service, service.settings.model_copy(update=update))
            print(f"indexing with units cut {first_unit_words} words in…", file=sys.stderr)
            recut.reindex()
            self._run_corpus(recut, f" cut{first_unit_words}", baseline=False)
            self.recut = (first_unit_words, service.settings.unit_words)
        if distractors:
            extended = with_distractors(self.settings, distractors, self.cache_dir)
            other = _alike(service, extended)
            print(f"indexing the corpus + {distractors} distractor episodes…", file=sys.stderr)
            other.reindex()
            self._run_corpus(other, f" +{distractors}", baseline)

    def _run_corpus(self, service, suffix: str, baseline: bool) -> None:
        from rag.baseline import TutorialBaseline

        folder = service.settings.transcripts_dir
        product: dict[str, list[ItemResult]] = {}
        for name, items in self.sets:
            print(f"asking {name}{suffix} ({len(items)} questions)…", file=sys.stderr)
            overall, groups, results = run_eval(items, service.ask, folder, self._show)
            product[name] = results
            self._add_row(f"{name}{suffix} vraagbaak", results)
            if not suffix:
                self.results[name] = results
                self.details.append(f"{name}:\n{format_report(overall, groups, self.mode)}")
        if baseline:
            base = TutorialBaseline(folder, service.embedder, service.context_words, self.cache_dir)
            for name, items in self.sets:
                _, _, results = run_eval(items, base.ask, folder)
                self._add_row(f"{name}{suffix} baseline", results, answers=False)
                self.paired[f"{name}{suffix}"] = paired_differences(product[name], results)

    def _add_row(self, label: str, results: list[ItemResult], answers: bool = True) -> None:
        row = headline(label, results, answers)
        row.intervals = headline_intervals(results, answers)
        self.rows.append(row)

    def _show(self, result: ItemResult) -> None:
        if self.verbose:
            a = result.answer
            print(
                f"{result.item.id}: {a.verdict} score={a.verdict_score or 0:.3f} "
                f"spans={result.span_ranks} facts={result.facts_found}/"
                f"{len(result.item.key_facts)}",
                file=sys.stderr,
            )

    def run_budgets(self, service, budgets: Sequence[int], folds: int = 0) -> None:
        """Recall of the product with each number of words of context (the same index
        and embedder). Changes that move evidence between 1,500 and 3,000 words are
        invisible at one budget when a set holds few such spans (dev holds one);
        smaller budgets show them. Spans per fold when `folds` is given."""
        from rag.calibration import fold_of

        folder = service.settings.transcripts_dir
        for words in budgets:
            update = {"context_words": words, "llm_context_words": words}
            settings = service.settings.model_copy(update=update)
            sized = _alike(service, settings)
            sized.load()
            for name, items in self.sets:
                print(f"asking {name} with {words} words of context…", file=sys.stderr)
                _, _, results = run_eval(items, sized.ask, folder)
                answerable = [r for r in results if r.item.answerable]  # as `summarise`
                per_fold = [0] * folds
                for r in answerable:
                    if folds:
                        found = sum(rank is not None for rank in r.span_ranks)
                        per_fold[fold_of(r.item.id, folds)] += found
                spans = sum(len(r.span_ranks) for r in answerable)
                row = headline(name, results)  # the headline's recall and whole, as printed
                self.budgets.setdefault(name, {})[words] = BudgetRecall(
                    row.recall, spans, per_fold, row.whole
                )

    def cross_validate(self, folds: int) -> None:
        from rag.calibration import cross_validate

        name, _ = self.sets[0]
        self.cv_report = cross_validate(self.results[name], folds)
        if any(r.answer.rerank_score is not None for r in self.results[name]):
            reranked = cross_validate(self.results[name], folds, reranker=True)
            self.cv_report += "\n\n" + reranked

    def report(self) -> str:
        order = {name: i for i, (name, _) in enumerate(self.sets)}
        rows = sorted(self.rows, key=lambda r: ("+" in r.label, order[r.label.split()[0]]))
        parts = [f"mode: {self.mode}", format_headlines(rows)]
        if self.recut:
            first, every = self.recut
            parts[-1] += (
                f"\ncut{first}: the units cut {first} words into each episode and every {every} "
                "words after, instead of every "
                f"{every} from the start (the same questions on a second index)."
            )
        parts.append(format_intervals(rows))
        parts.append(format_paired(self.paired))
        parts += self.details
        if self.cv_report:
            parts.append(self.cv_report)
        parts.append(format_budgets(self.budgets))
        return "\n\n".join(part for part in parts if part)

    def as_json(self) -> dict:
        return {
            "mode": self.mode,
            "headlines": [r.__dict__ for r in self.rows],
            "sets": {name: summary_json(summarise(res), {}) for name, res in self.results.items()},
            "cross_validation": self.cv_report,
            "paired_differences": self.paired,
            "budgets": {
                name: {str(words): cell.__dict__ for words, cell in cells.items()}
                for name, cells in self.budgets.items()
            },
        }
