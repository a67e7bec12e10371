"""The installed package carries its data files (a wheel, as the Docker image installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_bundled_lexicon_and_speakers(tmp_path):
    source = tmp_path / "source"  # pip builds in the tree: keep the checkout clean
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("rag", "bot"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(tmp_path), "--quiet"],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "rag/data/lexicon.txt" in names and "rag/data/speakers.txt" in names
    assert "bot/app.py" in names and "rag/retrieval.py" in names


def test_every_value_the_env_example_offers_is_one_the_settings_accept(monkeypatch):
    # `.env.example` explains the choices of a setting in comments ('# "none": …') above
    # its line; a user who copies one must not get a validation error at start-up.
    from bot.settings import BotSettings

    monkeypatch.chdir(ROOT / "tests")  # no .env of a developer read in
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    offered: list[str] = []
    checked = 0
    for line in lines:
        if line.startswith('# "'):
            offered.append(line.split('"')[1])
        elif "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0].strip().lower()
            assert key in BotSettings.model_fields, f"{key} is not a setting"
            for value in offered:
                BotSettings.model_validate({key: value})
                checked += 1
            offered = []
        elif not line.startswith("#"):
            offered = []
    assert checked >= 4  # the embedder and chunk-vector choices at least


def test_openmp_threads_spin_briefly_unless_the_environment_says_otherwise():
    names = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT")
    code = f"import os, rag; print(*(os.environ[n] for n in {names!r}))"
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONPATH"] = str(ROOT)
    run = [sys.executable, "-c", code]
    default = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    assert default.stdout.split() == ["PASSIVE", "1000", "20"]
    own = subprocess.run(
        run, env=env | {"GOMP_SPINCOUNT": "0"}, capture_output=True, text=True, check=True
    )
    assert own.stdout.split() == ["PASSIVE", "0", "20"]  # an operator's choice is kept
