"""Synthetic episodes that read like the sample: for the benchmarks' archives and the
eval's look-alike distractors (`aireport eval --distractors N`)."""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from pathlib import Path

from rag.settings import Settings
from rag.transcripts import list_transcript_files, parse_file


class MarkovChain:
    """Word-level order-2 chain over the sample, for synthetic episodes that read alike."""

    def __init__(self, words: list[str], seed: int = 7) -> None:
        self.words = words
        self.next: dict[tuple[str, str], list[str]] = defaultdict(list)
        for a, b, c in zip(words, words[1:], words[2:], strict=False):
            self.next[(a, b)].append(c)
        self.random = random.Random(seed)

    def generate(self, n: int) -> str:
        i = self.random.randrange(len(self.words) - 2)
        out = [self.words[i], self.words[i + 1]]
        while len(out) < n:
            options = self.next.get((out[-2], out[-1]))
            if not options:
                j = self.random.randrange(len(self.words) - 2)
                out += [self.words[j], self.words[j + 1]]
                continue
            out.append(self.random.choice(options))
        return " ".join(out[:n])


def write_synthetic(
    folder: Path, source: Path, episodes: int, words: int, prefix: str = "", kind: str = "syn"
) -> None:
    sample = parse_file(source)
    chain = MarkovChain(sample.span_text(0, len(sample.words)).split())
    for n in range(episodes):
        video_id = f"{kind}{n:08d}"
        (folder / f"{prefix}{n:03d}_{video_id}.md").write_text(
            f"# Synthetische aflevering {n}: AI Report\n\n"
            f"**Source:** [YouTube](https://www.youtube.com/watch?v={video_id})\n"
            f"**Video ID:** {video_id}\n**Tags:** #synthetic\n\n---\n\n## Transcript\n\n"
            f"{chain.generate(words)}\n",
            encoding="utf-8",
        )


def with_distractors(settings: Settings, episodes: int, cache_dir: Path) -> Settings:
    """Settings for a copy of the corpus plus `episodes` synthetic episodes (2,000 words).

    The folder is kept under `cache_dir` so a second run reindexes nothing."""
    root = cache_dir / f"distractors-{episodes}"
    transcripts = root / "transcripts"
    transcripts.mkdir(parents=True, exist_ok=True)
    sources = list_transcript_files(settings.transcripts_dir)
    for stale in transcripts.iterdir():
        stale.unlink()
    for source in sources:
        shutil.copyfile(source, transcripts / source.name)
    if sources:
        # Names and ids of their own, so they never collide with the corpus's files.
        write_synthetic(transcripts, sources[0], episodes, 2000, "zz_distractor_", "dis")
    return settings.model_copy(update={"transcripts_dir": transcripts, "index_dir": root / "index"})
