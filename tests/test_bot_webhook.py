"""Webhook mode: WEBHOOK_URL set -> the bot registers a webhook and answers what Telegram POSTs."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bot_harness import BotProcess, bot_env, clean_environ, copy_corpus, reply_to
from tg_emulator import TelegramEmulator

from rag.settings import Settings

pytestmark = pytest.mark.slow

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def webhook_bot(
    tg: TelegramEmulator, sample_index: Settings, tmp_path_factory
) -> Iterator[tuple[BotProcess, dict]]:
    base = tmp_path_factory.mktemp("bot-webhook")
    transcripts, index = copy_corpus(sample_index, base)
    port = free_port()
    env = bot_env(
        clean_environ(),
        tg,
        transcripts=transcripts,
        index=index,
        state=base / "state",
        webhook_url=f"http://127.0.0.1:{port}",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        log_level="DEBUG",
    )
    bot = BotProcess(env, Path(base) / "bot.log").start()
    try:
        info = tg.wait_for(lambda: tg.webhook_info().get("url") and tg.webhook_info(), timeout=90)
        deadline = time.monotonic() + 30  # the server listens right after setWebhook
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield bot, info
    finally:
        bot.stop()


def post(url: str, update: dict, secret: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SECRET_HEADER] = secret
    return httpx.post(url, content=json.dumps(update), headers=headers, timeout=10)


def test_webhook_is_registered_without_the_token_in_the_url(
    tg: TelegramEmulator, webhook_bot
) -> None:
    bot, info = webhook_bot
    assert info["url"].startswith("http://127.0.0.1:")
    assert "/telegram/" in info["url"]
    assert tg.token not in info["url"]
    assert tg.token.partition(":")[2] not in info["url"]
    assert len(info["secret_token"]) >= 32
    assert tg.call_count("getUpdates") == 0  # no polling in webhook mode


def test_posted_update_is_answered_and_forgeries_are_rejected(
    tg: TelegramEmulator, webhook_bot
) -> None:
    bot, info = webhook_bot
    forged = tg.inject_private_message("Wat zei Rick Lamers over Groq?", user_id=3001)
    assert post(info["url"], forged, None).status_code == 403
    assert post(info["url"], forged, "wrong-secret").status_code == 403

    update = tg.inject_private_message("Wat zei Rick Lamers over Groq?", user_id=3002)
    assert post(info["url"], update, info["secret_token"]).status_code == 200
    answer = reply_to(tg, update)
    assert answer.parse_mode == "HTML"
    assert "Bronnen" in answer.text

    time.sleep(0.5)
    assert tg.messages_in(3001) == []  # the forged update was never handled
    assert tg.token not in bot.output()
