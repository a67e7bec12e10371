"""The installed package carries its data files (a wheel, as the Docker image installs it)."""

from __future__ import annotations

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
