"""`python -m bot` refuses a missing or malformed token with a clear message and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bot_harness import ROOT, clean_environ


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = clean_environ()
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["TELEGRAM_BOT_TOKEN ontbreekt", "TELEGRAM_BOT_TOKEN is missing"]),
        ({"TELEGRAM_BOT_TOKEN": ""}, ["ontbreekt", "missing"]),
        ({"TELEGRAM_BOT_TOKEN": "123:abc"}, ["heeft niet de vorm", "does not look like"]),
        (
            {"TELEGRAM_BOT_TOKEN": "1234567:" + "a" * 35, "ADMIN_USER_IDS": "12,abc"},
            ["ADMIN_USER_IDS", "comma-separated numeric"],
        ),
    ],
    ids=["missing", "empty", "malformed", "bad-admin-ids"],
)
def test_bad_configuration_exits_2_without_traceback(tmp_path: Path, env, expected) -> None:
    result = run_bot(tmp_path, **env)
    assert result.returncode == 2
    for text in expected:
        assert text in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "a" * 35 not in result.stderr


def test_env_file_is_read_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=not-a-token\n", encoding="utf-8")
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert "does not look like" in result.stderr
