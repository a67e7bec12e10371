"""`aireport bench`: speed and memory on the sample and on a synthetic 200-episode archive.

Numbers, not pass/fail: they go in the README. Subprocesses are measured from the
outside (wall time; peak RSS via a wrapper process's RUSAGE_CHILDREN).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.evaluation import load_items, percentile
from rag.index import chunker_config
from rag.service import AnswerService
from rag.settings import Settings
from rag.store import EpisodeInfo, EpisodeParts, SearchIndex, current_build, write_index
from rag.synthetic import write_synthetic
from rag.transcripts import list_transcript_files, parse_file

DEV_SET = Path("eval/dev.jsonl")
FALLBACK_QUESTIONS = [
    "Wat is quantisatie volgens Rick Lamers?",
    "Wat is het verschil tussen Groq en Grok?",
    "Waarvoor mag AI bij de New York Times niet gebruikt worden?",
]
# Per-dimension noise on replicated vectors: cosines between copies of one unit ~0.96.
ARCHIVE_NOISE = 0.01
MEASURE_CHILD = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
)


def _questions() -> list[str]:
    if DEV_SET.is_file():
        return [item.question for item in load_items(DEV_SET)]
    return FALLBACK_QUESTIONS


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one subprocess (`env`: added to the environment)."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_CHILD, *command],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout.split()
    if out[2] != "0":
        raise RuntimeError(f"benchmark command failed: {' '.join(command)}")
    return float(out[0]), int(out[1]) / 1024


def _cli(settings: Settings, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rag.cli",
        "--transcripts-dir",
        str(settings.transcripts_dir),
        "--index-dir",
        str(settings.index_dir),
        *args,
    ]


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _warm_latency(
    service: AnswerService, questions: list[str], repeat: int
) -> dict[str, float | None]:
    """Latencies of a warm service: the first pass asks each question once (its query
    vector is computed); later passes repeat them (served from the query-vector cache)."""
    service.ask("AI Report")  # loads the embedder
    search: list[float] = []
    total: list[float] = []
    repeated: list[float] = []
    for n in range(repeat):
        for question in questions:
            answer = service.ask(question)
            if n:
                repeated.append(answer.timings_ms["total"])
                continue
            search.append(answer.timings_ms["retrieve"])
            total.append(answer.timings_ms["total"])
    return {
        "retrieve_p50": percentile(search, 50),
        "retrieve_p95": percentile(search, 95),
        "ask_p50": percentile(total, 50),
        "ask_p95": percentile(total, 95),
        "repeated_ask_p50": percentile(repeated, 50),
    }


def bench_sample(settings: Settings, repeat: int, work: Path) -> dict[str, float | None]:
    """Indexing speed, warm latencies and cold `aireport ask` on the sample corpus."""
    fresh = settings.model_copy(update={"index_dir": work / "sample-index"})
    words = sum(len(parse_file(p).words) for p in list_transcript_files(settings.transcripts_dir))
    seconds, rss = run_measured(_cli(fresh, "index"))
    service = AnswerService(fresh)
    service.load()
    results: dict[str, float | None] = {
        "index_seconds": seconds,
        "index_words_per_s": words / seconds,
        "index_rss_mb": rss,
    }
    results.update(_warm_latency(service, _questions(), repeat))
    cold = [run_measured(_cli(fresh, "ask", FALLBACK_QUESTIONS[0])) for _ in range(repeat)]
    results["cold_ask_s"] = sorted(c[0] for c in cold)[len(cold) // 2]
    results["cold_ask_rss_mb"] = max(c[1] for c in cold)
    units_only = settings.model_copy(update={"index_dir": work / "sample-index-units"})
    seconds, _ = run_measured(_cli(units_only, "index"), {"CHUNK_VECTORS": "none"})
    results["units_only_index_seconds"] = seconds
    results["units_only_index_words_per_s"] = words / seconds
    return results


def bench_scale(
    settings: Settings, episodes: int, words: int, work: Path
) -> dict[str, float | None]:
    transcripts = work / "scale-transcripts"
    transcripts.mkdir()
    sources = list_transcript_files(settings.transcripts_dir)
    write_synthetic(transcripts, sources[0], episodes, words)
    scale = settings.model_copy(
        update={"transcripts_dir": transcripts, "index_dir": work / "scale-index"}
    )
    index_s, index_rss = run_measured(_cli(scale, "index"))
    questions_file = work / "questions.txt"
    questions_file.write_text("\n".join(_questions()[:20]) + "\n", encoding="utf-8")
    _, serve_rss = run_measured(
        _cli(scale, "ask", "--json", "--questions-file", str(questions_file))
    )
    service = AnswerService(scale)
    service.load()
    latency = _warm_latency(service, _questions()[:20], 1)
    changed = sorted(transcripts.iterdir())[episodes // 2]
    changed.write_text(changed.read_text(encoding="utf-8") + " en nog een extra zin\n")
    reindex_s, _ = run_measured(_cli(scale, "index"))
    return {
        "episodes": episodes,
        "words_per_episode": words,
        "index_seconds": index_s,
        "index_words_per_s": episodes * words / index_s,
        "index_peak_rss_mb": index_rss,
        "index_size_mb": _dir_mb(scale.index_dir),
        "serve_peak_rss_mb": serve_rss,
        "retrieve_p50": latency["retrieve_p50"],
        "ask_p50": latency["ask_p50"],
        "reindex_one_changed_s": reindex_s,
    }


def replica_archive(sample: Settings, episodes: int, words: int, work: Path) -> Settings:
    """An index of `episodes` synthetic episodes of `words` words, built without embedding.

    Texts come from a Markov chain over the sample (so BM25 sees realistic captions);
    each episode's unit and chunk vectors are a run of the sample index's vectors,
    starting at a random place, with noise added and renormalised. The result has
    the size, the shape and the score distributions of a real archive of that size,
    which is what serving it costs; its answers mean nothing."""
    from rag.chunking import chunk_episode

    source = SearchIndex.load(sample.index_dir)
    unit_matrix = source.unit_matrix()
    chunk_matrix = source.chunk_matrix() if source.has_chunk_vectors else None
    transcripts = work / "archive-transcripts"
    transcripts.mkdir()
    write_synthetic(transcripts, list_transcript_files(sample.transcripts_dir)[0], episodes, words)
    chunker = chunker_config(sample)
    rng = np.random.default_rng(7)
    parts = []
    for path in list_transcript_files(transcripts):
        episode = parse_file(path)
        units, chunks = chunk_episode(episode, chunker)
        parts.append(
            EpisodeParts(
                EpisodeInfo.of(episode),
                units,
                chunks,
                _perturbed_run(unit_matrix, len(units), rng),
                unit_matrix[:0]
                if chunk_matrix is None
                else _perturbed_run(chunk_matrix, len(chunks), rng),
            )
        )
    archive = sample.model_copy(
        update={"transcripts_dir": transcripts, "index_dir": work / "archive-index"}
    )
    mode = source.manifest.get("chunk_vectors", "embedded")
    write_index(archive.index_dir, parts, source.embedding_model, chunker, mode)
    return archive


def _perturbed_run(matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` consecutive rows of `matrix` (wrapping) from a random start, with noise."""
    rows = (rng.integers(len(matrix)) + np.arange(n)) % len(matrix)
    noisy = matrix[rows] + rng.normal(0.0, ARCHIVE_NOISE, (n, matrix.shape[1]))
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


SERVE_CHILD = (
    "import json, resource, sys, time\n"
    "from rag.service import AnswerService\n"
    "from rag.settings import Settings\n"
    "settings = Settings(transcripts_dir=sys.argv[1], index_dir=sys.argv[2])\n"
    "service = AnswerService(settings)\n"
    "t = time.perf_counter()\n"
    "assert service.load()\n"
    "load = time.perf_counter() - t\n"
    "questions = json.loads(sys.argv[3])\n"
    "service.ask('AI Report')\n"
    "retrieve, ask = [], []\n"
    "for q in questions:\n"
    "    a = service.ask(q)\n"
    "    retrieve.append(a.timings_ms['retrieve'])\n"
    "    ask.append(a.timings_ms['total'])\n"
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "print(json.dumps({'load_s': load, 'retrieve': retrieve, 'ask': ask, 'rss_mb': rss}))\n"
)


def bench_archive(sample: Settings, episodes: int, words: int, work: Path) -> dict[str, float]:
    """Serving a realistic archive: index load, warm latencies and peak RSS of a fresh
    process, and the index's size on disk (`replica_archive`)."""
    started = time.perf_counter()
    archive = replica_archive(sample, episodes, words, work)
    built = time.perf_counter() - started
    questions = _questions()[:40]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_CHILD,
            str(archive.transcripts_dir),
            str(archive.index_dir),
            json.dumps(questions),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    served = json.loads(out.strip().splitlines()[-1])
    build = current_build(archive.index_dir)
    assert build is not None, "replica_archive made it live"
    manifest = json.loads((build / "manifest.json").read_text())
    return {
        "episodes": episodes,
        "words_per_episode": words,
        "units": sum(f["units"] for f in manifest["files"].values()),
        "build_seconds": built,
        "index_size_mb": _dir_mb(archive.index_dir),
        "load_s": served["load_s"],
        "retrieve_p50": percentile(served["retrieve"], 50),
        "retrieve_p95": percentile(served["retrieve"], 95),
        "ask_p50": percentile(served["ask"], 50),
        "ask_p95": percentile(served["ask"], 95),
        "serve_rss_mb": served["rss_mb"],
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_results(sample: dict, scale: dict | None, archive: dict | None = None) -> str:
    rows = [
        "| benchmark | value |",
        "|---|---|",
        f"| sample: index build (fresh) | {sample['index_seconds']:.1f} s, "
        f"{sample['index_words_per_s']:.0f} transcript words/s, "
        f"peak RSS {sample['index_rss_mb']:.0f} MB |",
        f"| sample: warm retrieve (hybrid search) p50 / p95 | {sample['retrieve_p50']:.1f} / "
        f"{sample['retrieve_p95']:.1f} ms |",
        f"| sample: warm ask (search + passages + answer) p50 / p95 | {sample['ask_p50']:.0f} / "
        f"{sample['ask_p95']:.0f} ms |",
        f"| sample: warm ask of a repeated question (query vector cached) p50 | "
        f"{_ms(sample['repeated_ask_p50'])} |",
        f"| sample: cold `aireport ask` (existing index) | {sample['cold_ask_s']:.2f} s, "
        f"peak RSS {sample['cold_ask_rss_mb']:.0f} MB |",
        f"| sample: index build with `CHUNK_VECTORS=none` (units only) | "
        f"{sample['units_only_index_seconds']:.1f} s, "
        f"{sample['units_only_index_words_per_s']:.0f} transcript words/s |",
    ]
    if scale:
        n, w = scale["episodes"], scale["words_per_episode"]
        rows += [
            f"| scale ({n} × {w} words): index build | {scale['index_seconds']:.0f} s, "
            f"{scale['index_words_per_s']:.0f} words/s, "
            f"peak RSS {scale['index_peak_rss_mb']:.0f} MB |",
            f"| scale: index size on disk | {scale['index_size_mb']:.1f} MB |",
            f"| scale: serving peak RSS (20 questions) | {scale['serve_peak_rss_mb']:.0f} MB |",
            f"| scale: warm retrieve p50 / ask p50 | {scale['retrieve_p50']:.1f} / "
            f"{scale['ask_p50']:.0f} ms |",
            f"| scale: reindex after changing 1 of {n} files | "
            f"{scale['reindex_one_changed_s']:.1f} s |",
        ]
    if archive:
        n, w = archive["episodes"], archive["words_per_episode"]
        rows += [
            f"| archive ({n} × {w:,} words, {archive['units']:,} units; vectors replicated, "
            f"not embedded): index load | {archive['load_s']:.1f} s |",
            f"| archive: warm retrieve p50 / p95 | {archive['retrieve_p50']:.1f} / "
            f"{archive['retrieve_p95']:.1f} ms |",
            f"| archive: warm ask p50 / p95 | {archive['ask_p50']:.0f} / "
            f"{archive['ask_p95']:.0f} ms |",
            f"| archive: serving peak RSS / index on disk | {archive['serve_rss_mb']:.0f} MB / "
            f"{archive['index_size_mb']:.0f} MB |",
        ]
    return "\n".join(rows)


def run_bench(settings: Settings, args) -> str:
    work = Path(tempfile.mkdtemp(prefix="aireport-bench-"))
    started = time.perf_counter()
    try:
        sample = bench_sample(settings, args.repeat, work)
        scale = archive = None
        if not args.skip_scale:
            scale = bench_scale(settings, args.scale_episodes, args.scale_words, work)
        if args.archive_episodes:
            fresh = settings.model_copy(update={"index_dir": work / "sample-index"})
            archive = bench_archive(fresh, args.archive_episodes, args.archive_words, work)
        raw = json.dumps({"sample": sample, "scale": scale, "archive": archive}, indent=1)
        total = time.perf_counter() - started
        return f"{format_results(sample, scale, archive)}\n\n(total {total:.0f} s)\n{raw}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
