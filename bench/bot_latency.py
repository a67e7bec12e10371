"""Question -> answer time through the Telegram emulator: 1 user, then 20 concurrent users.

    .venv/bin/python -m bench.bot_latency [--index-dir DIR --transcripts-dir DIR]
    .venv/bin/python -m bench.bot_latency --flood [--index-dir DIR ...]

(run from the repository root: `-m` puts it on sys.path, so `tests.*` imports as a package)

Starts the local Bot API emulator and the real bot (`python -m bot`, embedded default, no
LLM) on the sample index, injects questions from eval/dev.jsonl as Telegram updates and
measures the time from injecting an update to the emulator storing the bot's answer.
Without --index-dir it reuses data/index when it holds an index, else builds one in a temp
dir (a few minutes on 2 cores).

`--flood`: one user sends `--flood-questions` (50) questions as fast as possible while
`--other-questions` (15) questions from other users are asked in a row, each after the
previous answer; the same without the flood is the idle baseline. Each of those questions
comes from a user of its own: one user asking 15 questions within seconds would be
limited too, by design. The bot runs with its default limits (4 questions, then 12 a
minute, per user; 8 LLM workers; 25 s deadline), twice:

- extractive (no LLM): the other users' answers are extractive. "Normal latency" is
  meant literally: question to answer, flood against idle.
- slow LLM: the bot's LLM is the local OpenAI-compatible stub, which waits `--llm-delay`
  (2 s) before its first token and streams the rest slowly (one search-query-free call
  per answer, `LLM_SEARCH_QUERIES=0`). The other users' answers are then LLM answers,
  slow by construction, so what has to stay normal is the flood's effect on them: the
  time to the bot's first message (the first streamed draft) and to the final answer,
  flood against idle. (When every LLM worker is busy, an answer is extractive at once
  instead of waiting; tests/test_isolation.py shows that case.)

Every user must get a reply: the other users an answer to each question, the flooding
user answers to the questions the limit lets through and one message about the limit,
its other questions being dropped without a reply.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot import messages as msg
from bot.stats import percentile
from rag.evaluation import load_items
from rag.service import AnswerService
from rag.settings import Settings
from rag.store import current_build
from tests.bot_harness import BotProcess, bot_env, clean_environ, start_bot
from tests.openai_server import OpenAIStubServer
from tests.tg_emulator import TelegramEmulator

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "dev.jsonl"
SAMPLE_TRANSCRIPTS = ROOT / "data" / "transcripts"
FLOODER, IDLE_USERS, FLOOD_USERS = 39_999, 40_000, 41_000  # other users: one per question
LIMIT_MESSAGE = msg.TOO_MANY_QUESTIONS.split("{")[0]
LLM_REPLY = (
    "Volgens de podcast gaat het hierover [{a}]. Er wordt ook iets over gezegd in een ander "
    "fragment, met meer details over wat er precies bedoeld wordt [{b}]."
)


def questions() -> list[str]:
    return [item.question for item in load_items(DEV_SET)]


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
    tg: TelegramEmulator,
    pool: list[str],
    users: int,
    per_user: int,
    timeout: float,
    offset: int = 0,
) -> tuple[list[float], float]:
    """`users` threads, each asking `per_user` questions one after the other (closed loop),
    from `pool[offset:]` (questions not asked before: the bot caches query vectors)."""
    results: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(users)

    def user(index: int) -> None:
        start.wait()
        for k in range(per_user):
            question = pool[(offset + index * per_user + k) % len(pool)]
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


@dataclass
class Timing:
    first: float  # seconds from the question to the bot's first message for it
    final: float  # ... to the final version of the answer


def answered(bot: BotProcess, user_id: int) -> int:
    return bot.output().count(f"answered chat={user_id} ")


def timed_answer(
    tg: TelegramEmulator, bot: BotProcess, text: str, user_id: int, timeout: float
) -> Timing:
    """Ask, and wait until the bot logs that the answer is complete (drafts included)."""
    start = len(bot.output())
    sent_at = time.time()
    message_id = tg.inject_private_message(text, user_id=user_id)["message"]["message_id"]
    bot.wait_for_output(f"answered chat={user_id} ", start, timeout)
    answer = next(m for m in tg.messages_in(user_id) if m.reply_to_message_id == message_id)
    return Timing(answer.history[0].timestamp - sent_at, answer.history[-1].timestamp - sent_at)


def cite_fragments(body: dict) -> str:
    """The stub's reply: a short answer citing the first and last fragment it was given."""
    numbers = re.findall(r'<fragment nummer="(\d+)"', body["messages"][-1]["content"]) or ["1"]
    return LLM_REPLY.format(a=numbers[0], b=numbers[-1])


@dataclass
class FloodReplies:
    sent: int
    answered: int
    told: int  # the limit message
    dropped: int  # no reply at all


def flood_round(
    tg: TelegramEmulator, bot: BotProcess, pool: list[str], args: argparse.Namespace
) -> tuple[list[Timing], FloodReplies]:
    """The flooder sends its questions at once while the other users ask in a row."""
    flood_ids: list[int] = []

    def flood() -> None:
        for i in range(args.flood_questions):
            text = pool[(2 * args.other_questions + i) % len(pool)]
            update = tg.inject_private_message(text, user_id=FLOODER)
            flood_ids.append(update["message"]["message_id"])

    flooder = threading.Thread(target=flood)
    flooder.start()
    timings = others(tg, bot, pool[args.other_questions :], FLOOD_USERS, args)
    flooder.join()
    # Wait until the flooder's admitted questions are all answered: every reply that is
    # not the limit message has its "answered" line, and nothing new comes for a while.
    quiet_since, seen = time.monotonic(), None
    while time.monotonic() - quiet_since < args.settle:
        replies = [m for m in tg.messages_in(FLOODER) if m.reply_to_message_id in flood_ids]
        answers = sum(not (m.text or "").startswith(LIMIT_MESSAGE) for m in replies)
        state = (len(replies), answered(bot, FLOODER))
        if state != seen or answers != state[1]:
            quiet_since, seen = time.monotonic(), state
        time.sleep(0.2)
    by_question = {
        i: [m for m in tg.messages_in(FLOODER) if m.reply_to_message_id == i] for i in flood_ids
    }
    told = sum(
        any((m.text or "").startswith(LIMIT_MESSAGE) for m in ms) for ms in by_question.values()
    )
    got_reply = sum(bool(ms) for ms in by_question.values())
    replies = FloodReplies(len(flood_ids), got_reply - told, told, len(flood_ids) - got_reply)
    return timings, replies


def others(
    tg: TelegramEmulator, bot: BotProcess, pool: list[str], first_user: int, args
) -> list[Timing]:
    """The other users' questions, one after the other, each from a user of its own.

    Idle, flood and flooder rounds ask different questions: no answer comes from a cache."""
    return [
        timed_answer(tg, bot, pool[i % len(pool)], first_user + i, args.timeout)
        for i in range(args.other_questions)
    ]


def ms_summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{percentile(ms, 50):6.0f} / {percentile(ms, 95):6.0f} ms"


def run_flood(args: argparse.Namespace, pool: list[str]) -> None:
    rows: list[tuple[str, list[Timing]]] = []
    floods: list[tuple[str, FloodReplies, int]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bot-flood-") as tmp,
        TelegramEmulator() as tg,
        OpenAIStubServer(api_key=None) as stub,
    ):
        work = Path(tmp)
        transcripts, index = prepare_index(args, work)
        stub.set_behaviour("slow", delay=args.llm_delay, chunk_delay=args.llm_chunk_delay)
        stub.set_responder(cite_fragments)
        llm = {"openai_base_url": stub.base_url, "llm_search_queries": 0}
        for label, extra in (("extractive", {}), (f"slow LLM ({args.llm_delay:g} s)", llm)):
            env = bot_env(
                clean_environ(),
                tg,
                transcripts=transcripts,
                index=index,
                state=work / f"state-{len(rows)}",
                log_level="INFO",  # the "answered chat=" lines say when an answer is complete
                **extra,
            )
            bot = start_bot(env, tg, work / f"bot-{len(rows)}.log")
            try:
                timed_answer(tg, bot, "Wat is Groq?", 19_999, args.timeout)  # warm-up
                idle = others(tg, bot, pool, IDLE_USERS, args)
                flooded, replies = flood_round(tg, bot, pool, args)
                other_answered = len(idle) + len(flooded)  # each waited for its answer
            finally:
                bot.stop()
            rows += [(f"{label}, idle", idle), (f"{label}, flood", flooded)]
            floods.append((label, replies, other_answered))
        rejected = tg.rejections()
    print()
    print(
        f"Flood: one user sends {args.flood_questions} questions at once while other users "
        f"ask {args.other_questions} in a row, one each (sample index; default limits)"
    )
    print(f"{'other users':<28} {'first message p50 / p95':>24}  {'final answer p50 / p95':>24}")
    for label, timings in rows:
        first = ms_summary([t.first for t in timings])
        final = ms_summary([t.final for t in timings])
        print(f"{label:<28} {first:>24}  {final:>24}")
    for (label, idle), (_, flooded) in zip(rows[::2], rows[1::2], strict=True):
        ratios = [
            percentile([when(t) for t in flooded], 95) / percentile([when(t) for t in idle], 95)
            for when in (lambda t: t.first, lambda t: t.final)
        ]
        print(
            f"{label.removesuffix(', idle')}: p95 flood / idle = {ratios[0]:.2f} (first "
            f"message), {ratios[1]:.2f} (final answer)"
        )
    for label, replies, other_answered in floods:
        print(
            f"{label}: flooder {replies.sent} questions -> {replies.answered} answered, "
            f"{replies.told} limit message(s), {replies.dropped} dropped; other users' "
            f"questions {other_answered}/{2 * args.other_questions} answered"
        )
    print(f"requests rejected by the emulator: {len(rejected)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--transcripts-dir", type=Path)
    parser.add_argument("--sequential", type=int, default=45, help="questions for 1 user")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=3, help="questions per concurrent user")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--flood", action="store_true", help="the flood run (see above)")
    parser.add_argument("--flood-questions", type=int, default=50)
    parser.add_argument("--other-questions", type=int, default=15)
    parser.add_argument("--llm-delay", type=float, default=2.0, help="stub: s to first token")
    parser.add_argument("--llm-chunk-delay", type=float, default=0.05, help="stub: s per piece")
    parser.add_argument("--settle", type=float, default=6.0, help="quiet s ending a flood")
    args = parser.parse_args()

    pool = questions()
    if args.flood:
        run_flood(args, pool)
        return
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
        # This run measures answering, not the per-user limit (the flood run measures that).
        env["USER_QUESTIONS_BURST"] = str(args.sequential + args.per_user)
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
                tg, pool, args.users, args.per_user, args.timeout, offset=args.sequential
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
