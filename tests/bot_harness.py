"""Run the real bot (`python -m bot`) as a subprocess against the Telegram emulator.

Shared by the tests (imported as `bot_harness`, pytest puts tests/ on sys.path) and
`python -m bench.bot_latency` (imported as `tests.bot_harness`): it imports no other
module of tests/ at run time."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importable as `bot_harness` (pytest) and `tests.bot_harness`
    from tg_emulator import SentMessage, TelegramEmulator

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 90.0


def clean_environ() -> dict[str, str]:
    """os.environ without anything the bot's settings would read (keys, tokens, paths)."""
    from bot.settings import BotSettings

    fields = {name.upper() for name in BotSettings.model_fields}
    return {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in fields
        and not key.upper().startswith(("OPENAI_", "TELEGRAM_", "LLM_", "EMBEDDINGS", "WEBHOOK_"))
    }


def copy_corpus(settings: Any, dest: Path) -> tuple[Path, Path]:
    """Copies of a built index and its transcripts (plain files), for a bot that may change them."""
    transcripts = dest / "transcripts"
    index = dest / "index"
    shutil.copytree(settings.transcripts_dir, transcripts)
    shutil.copytree(settings.index_dir, index, ignore=shutil.ignore_patterns(".lock"))
    return transcripts, index


def bot_env(
    base: dict[str, str],
    tg: TelegramEmulator,
    *,
    transcripts: Path,
    index: Path,
    state: Path,
    **extra: Any,
) -> dict[str, str]:
    """Environment for the bot process: the emulator's URL and token, temp data folders."""
    env = dict(base)
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TRANSCRIPTS_DIR": str(transcripts),
            "INDEX_DIR": str(index),
            "STATE_DIR": str(state),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key.upper(): str(value) for key, value in extra.items()})
    return env


class BotProcess:
    """`python -m bot` with its output in a log file; stopped with SIGTERM like Docker does."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.cwd = cwd or log_path.parent  # not the repo: no developer `.env` is read
        self.proc: subprocess.Popen | None = None

    def start(self) -> BotProcess:
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=self.cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, tg: TelegramEmulator, timeout: float = READY_TIMEOUT_S) -> BotProcess:
        """Wait until the bot polls for updates (post_init is done by then)."""
        polls_before = tg.call_count("getUpdates")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"the bot exited early:\n{self.output()[-4000:]}")
            if tg.call_count("getUpdates") > polls_before:
                return self
            time.sleep(0.05)
        raise AssertionError(f"the bot did not start polling:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it hangs; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, start: int = 0, timeout: float = 30.0) -> str:
        """Wait until `text` is logged after character `start`; returns the log from `start`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logged = self.output()[start:]
            if text in logged:
                return logged
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"the bot did not log {text!r}:\n{self.output()[-4000:]}")


def start_bot(env: dict[str, str], tg: TelegramEmulator, log_path: Path) -> BotProcess:
    bot = BotProcess(env, log_path).start()
    try:
        return bot.wait_ready(tg)
    except AssertionError:
        bot.stop()
        raise


@contextlib.contextmanager
def running_bot(
    tg: TelegramEmulator,
    log_path: Path,
    *,
    transcripts: Path,
    index: Path,
    state: Path,
    clean_exit: bool = True,
    **settings: Any,
) -> Iterator[BotProcess]:
    """`python -m bot` polling `tg`, configured by `settings` (as environment variables) in
    an environment without the developer's; stopped at the end of the block, which then
    asserts that it exited cleanly (`clean_exit`)."""
    env = bot_env(
        clean_environ(), tg, transcripts=transcripts, index=index, state=state, **settings
    )
    process = start_bot(env, tg, log_path)
    try:
        yield process
    finally:
        code = process.stop()
    if clean_exit:
        assert code == 0, process.output()[-3000:]


def reply_to(
    tg: TelegramEmulator, update: dict[str, Any], timeout: float = 20.0, **match: Any
) -> SentMessage:
    """The bot's message that replies to the message of an injected update."""
    message = update.get("message") or update["edited_message"]
    chat_id, message_id = message["chat"]["id"], message["message_id"]
    return tg.wait_for_message(
        chat_id,
        predicate=lambda m: m.reply_to_message_id == message_id,
        timeout=timeout,
        **match,
    )


def ask(tg: TelegramEmulator, text: str, timeout: float = 20.0, **kwargs: Any) -> SentMessage:
    """Inject a private message and wait for the bot's reply to it."""
    return reply_to(tg, tg.inject_private_message(text, **kwargs), timeout)


def press(tg: TelegramEmulator, chat_id: int, message_id: int, data: str, user_id: int) -> str:
    """Press a button; the text of the bot's answer to the callback query."""
    update = tg.inject_callback_query(chat_id, message_id, data, user_id=user_id)
    query = update["callback_query"]["id"]
    return tg.wait_for(lambda: tg.callback_answers(query), timeout=30)[0].text


def vote_down(tg: TelegramEmulator, answer: SentMessage, user_id: int) -> SentMessage:
    """Press 👎 under an answer; the bot's request for a comment (a reply to the answer)."""
    from bot import messages as msg

    [down] = [d for d in answer.callback_data if d.startswith("fb:") and d.endswith(":d")]
    before = {m.message_id for m in tg.messages_in(answer.chat_id)}
    assert press(tg, answer.chat_id, answer.message_id, down, user_id) in (
        msg.FEEDBACK_THANKS,
        msg.FEEDBACK_CHANGED,
    )
    return tg.wait_for_message(
        answer.chat_id,
        predicate=lambda m: (
            m.reply_to_message_id == answer.message_id
            and m.message_id not in before
            and (m.text or "").startswith("Jammer")
        ),
        timeout=30,
    )


def replies(tg: TelegramEmulator, update: dict[str, Any]) -> list[SentMessage]:
    """All the bot's replies so far to the message of an injected update."""
    message = update["message"]
    return [
        m
        for m in tg.messages_in(message["chat"]["id"])
        if m.reply_to_message_id == message["message_id"]
    ]
