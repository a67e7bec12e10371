"""Question -> answer time through the Telegram emulator: 1 user, then 20 concurrent users.

    /work/main/.venv/bin/python bench/bot_latency.py [--index-dir DIR --transcripts-dir DIR]

Starts the local Bot API emulator and the real bot (`python -m bot`, embedded default, no
LLM) on the sample index, injects questions from eval/dev.jsonl as Telegram updates and
measures the time from injecting an update to the emulator storing the bot's answer.
Without --index-dir it reuses data/index when it holds an index, else builds one in a temp
dir (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.stats import percentile  # noqa: E402
from rag.index import current_build  # noqa: E402
from rag.service import AnswerService  # noqa: E402
from rag.settings import Settings  # noqa: E402
from tests.bot_harness import bot_env, clean_environ, start_bot  # noqa: E402
from tests.tg_emulator import TelegramEmulator  # noqa: E402

DEV_SET = ROOT / "eval" / "dev.jsonl"
SAMPLE_TRANSCRIPTS = ROOT / "data" / "transcripts"


def questions() -> list[str]:
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def prepare_index(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """(transcripts, index) copies the bot may use; builds the index when there is none."""
    source_index = args.index_dir or ROOT / "data" / "index"
    source_transcripts = args.transcripts_dir or SAMPLE_TRANSCRIPTS
    transcripts, index = work / "transcripts", work / "index"
    shutil.copytree(source_transcripts, transcripts)
    if current_build(source_index) is not None:
        shutil.copytree(source_index, index, ignore=shutil.ignore_patterns(".lock"))
        return transcripts, index
    print(f"no index in {source_index}: building one in {index} ...", flush=True)
    settings = Settings(_env_file=None, transcripts_dir=transcripts, index_dir=index)
    started = time.perf_counter()
    AnswerService(settings).ensure_index()
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return transcripts, index


def timed_question(tg: TelegramEmulator, text: str, user_id: int, timeout: float) -> float:
    """Seconds from injecting the update to the emulator storing the bot's answer."""
    sent_at = time.time()
    update = tg.inject_private_message(text, user_id=user_id)
    message_id = update["message"]["message_id"]
    answer = tg.wait_for_message(
        user_id, predicate=lambda m: m.reply_to_message_id == message_id, timeout=timeout
    )
    return answer.history[0].timestamp - sent_at


def run_concurrent(
    tg: TelegramEmulator, pool: list[str], users: int, per_user: int, timeout: float
) -> tuple[list[float], float]:
    """`users` threads, each asking `per_user` questions one after the other (closed loop)."""
    results: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(users)

    def user(index: int) -> None:
        start.wait()
        for k in range(per_user):
            question = pool[(index * per_user + k) % len(pool)]
            try:
                seconds = timed_question(tg, question, 20_000 + index, timeout)
            except AssertionError as exc:  # a lost answer: report it, do not hide it
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(seconds)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} questions got no answer: {errors[0]}")
    return results, wall


def summary(label: str, seconds: list[float], wall: float) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<28} n={len(ms):>3}  p50={percentile(ms, 50):7.0f} ms  "
        f"p95={percentile(ms, 95):7.0f} ms  mean={statistics.mean(ms):7.0f} ms  "
        f"max={max(ms):7.0f} ms  throughput={len(ms) / wall:5.2f} q/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--transcripts-dir", type=Path)
    parser.add_argument("--sequential", type=int, default=45, help="questions for 1 user")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=3, help="questions per concurrent user")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    pool = questions()
    with tempfile.TemporaryDirectory(prefix="bot-latency-") as tmp, TelegramEmulator() as tg:
        work = Path(tmp)
        transcripts, index = prepare_index(args, work)
        env = bot_env(
            clean_environ(),
            tg,
            transcripts=transcripts,
            index=index,
            state=work / "state",
            log_level="WARNING",
        )
        bot = start_bot(env, tg, work / "bot.log")
        try:
            timed_question(tg, "Wat is Groq?", 19_999, args.timeout)  # warm-up
            started = time.perf_counter()
            sequential = [
                timed_question(tg, pool[i % len(pool)], 10_000, args.timeout)
                for i in range(args.sequential)
            ]
            sequential_wall = time.perf_counter() - started
            concurrent, concurrent_wall = run_concurrent(
                tg, pool, args.users, args.per_user, args.timeout
            )
            rejected = tg.rejections()
        finally:
            bot.stop()
    print()
    print("Question -> answer through the Telegram emulator (embedded default, sample index)")
    print(summary("1 user, sequential", sequential, sequential_wall))
    print(summary(f"{args.users} concurrent users", concurrent, concurrent_wall))
    print(f"requests rejected by the emulator: {len(rejected)}")


if __name__ == "__main__":
    main()
