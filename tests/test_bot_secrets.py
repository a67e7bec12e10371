"""Secrets never reach stderr: a rejected token, the log redactor and uncaught exceptions."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bot_harness import ROOT, clean_environ
from pydantic import SecretStr

from bot.logs import REDACTED, RedactingFilter, bot_secrets, install_excepthooks, settings_secrets
from bot.settings import BotSettings

TOKEN = "1234567890:AAEsecretSECRETsecretSECRETsecret_-42"
SECRET_HALF = TOKEN.partition(":")[2]
OPENAI_KEY = "sk-proj-" + "k3y" * 16
SECRETS = (TOKEN, SECRET_HALF, OPENAI_KEY)


class RejectingBotAPI:
    """A Bot API server that answers every call with one error status, like Telegram does."""

    def __init__(self, status: HTTPStatus) -> None:
        self.status = status
        self.paths: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/bot"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.paths.append(self.path)
                body = json.dumps(
                    {"ok": False, "error_code": api.status, "description": api.status.phrase}
                ).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:  # keep pytest's output clean
                pass

        return Handler


@pytest.fixture(params=[HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND], ids=["401", "404"])
def rejecting_api(request) -> Iterator[RejectingBotAPI]:
    api = RejectingBotAPI(request.param)
    api.thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()


def run_bot(tmp_path: Path, api: RejectingBotAPI) -> subprocess.CompletedProcess:
    env = clean_environ()
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "TRANSCRIPTS_DIR": str(tmp_path / "transcripts"),
            "INDEX_DIR": str(tmp_path / "index"),
            "STATE_DIR": str(tmp_path / "state"),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_rejected_token_exits_2_with_a_message_and_no_token(
    tmp_path: Path, rejecting_api: RejectingBotAPI
) -> None:
    result = run_bot(tmp_path, rejecting_api)
    assert rejecting_api.paths, "the bot never called the Bot API"
    output = result.stdout + result.stderr
    assert TOKEN not in output
    assert SECRET_HALF not in output
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Telegram accepteert het token niet" in result.stderr
    assert "Telegram did not accept the token" in result.stderr
    assert "TELEGRAM_API_BASE_URL" in result.stderr
    assert rejecting_api.status.phrase in result.stderr  # 401 and 404 can be told apart


# ------------------------------------------------------------------------- in-process redaction


def test_log_redactor_scrubs_the_openai_key() -> None:
    records: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(RedactingFilter(bot_secrets(TOKEN, SecretStr(OPENAI_KEY))))
    logger = logging.getLogger("test.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Authorization: Bearer %s", OPENAI_KEY)
        try:
            raise RuntimeError(f"bad key {OPENAI_KEY} for /bot{TOKEN}/getMe")
        except RuntimeError:
            logger.exception("LLM call failed")
    finally:
        logger.removeHandler(handler)
    output = "\n".join(records)
    assert not [s for s in SECRETS if s in output]
    assert "Bearer " + REDACTED in output
    assert "RuntimeError" in output


def test_every_key_in_the_settings_is_scrubbed() -> None:
    keys = {name: "key-" + name * 4 for name in ("openai", "stt", "rerank")}
    settings = BotSettings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        openai_api_key=keys["openai"],
        stt_api_key=keys["stt"],
        rerank_api_key=keys["rerank"],
    )
    assert set(settings_secrets(settings)) == {TOKEN, SECRET_HALF, *keys.values()}


def test_placeholder_keys_are_not_scrubbed() -> None:
    """A local server's dummy key ("x") would otherwise garble every log line."""
    assert bot_secrets(TOKEN, SecretStr("x")) == [TOKEN, SECRET_HALF]
    assert bot_secrets(TOKEN, None) == [TOKEN, SECRET_HALF]


def fabricated_exception() -> BaseException:
    """An exception with a traceback and a cause, both mentioning the secrets."""
    try:
        try:
            raise ConnectionError(f"POST https://api.telegram.org/bot{TOKEN}/getMe")
        except ConnectionError as exc:
            raise RuntimeError(f"key {OPENAI_KEY} and secret {SECRET_HALF}") from exc
    except RuntimeError as exc:
        return exc


@pytest.fixture
def redacting_hooks(monkeypatch) -> None:
    """Install the redacting hooks; monkeypatch puts Python's own back afterwards."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthooks(RedactingFilter(bot_secrets(TOKEN, SecretStr(OPENAI_KEY))))


def test_excepthook_redacts_an_uncaught_traceback(redacting_hooks, capsys) -> None:
    exc = fabricated_exception()
    sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert not [s for s in SECRETS if s in err]
    assert "Traceback (most recent call last)" in err
    assert "ConnectionError: POST https://api.telegram.org/bot" + REDACTED in err
    assert f"RuntimeError: key {REDACTED} and secret {REDACTED}" in err


def test_thread_excepthook_redacts_too(redacting_hooks, capsys) -> None:
    def fail() -> None:
        raise fabricated_exception()

    thread = threading.Thread(target=fail, name="leaky")
    thread.start()
    thread.join()
    err = capsys.readouterr().err
    assert not [s for s in SECRETS if s in err]
    assert "leaky" in err
    assert "RuntimeError: key " + REDACTED in err
