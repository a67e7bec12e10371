"""The image's entrypoint makes a bind-mounted host `data/` folder usable (no Docker engine).

`docker run -v "$PWD/data:/app/data"` hands the container a folder owned by a host uid; run
directly as uid 10001 the bot could not create `data/state` and crashed at start. The image
now starts `docker/entrypoint.sh` as root: it creates the data folders, gives them to the
app user and drops to that user with setpriv before it execs the command. Started with
`--user`, it only checks the folders and stops with a clear message if they are not
writable. These tests run the script itself, with `nobody` standing in for the app user.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = ROOT / "Dockerfile"
HOST_UID = 4242  # the owner of the "host" folder: a uid the app user is not
SETPRIV = shutil.which("setpriv")
IS_ROOT = os.geteuid() == 0

# What the command reports about itself: it proves it ran as the dropped user, with the
# arguments intact, in the entrypoint's own process (exec, not a child), and could write.
REPORT = (
    'echo "pid=$$ uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME"; '
    'printf "arg=%s\\n" "$@"; '
    'echo written > "$STATE_DIR/probe"'
)


@pytest.fixture
def base() -> Iterator[Path]:
    """A temp folder that `nobody` can traverse (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="entrypoint-"))
    path.chmod(0o755)
    if any(not p.stat().st_mode & stat.S_IXOTH for p in path.parents):
        shutil.rmtree(path)
        pytest.skip(f"a parent of {path} is not searchable by other users")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def script(base: Path) -> Path:
    """The entrypoint, copied where the unprivileged user can read it."""
    copy = base / "entrypoint.sh"
    shutil.copy(SCRIPT, copy)
    copy.chmod(0o755)
    return copy


def unprivileged() -> tuple[list[str], int]:
    """The prefix that runs a command as a non-root user, and that user's uid."""
    if not IS_ROOT:
        return [], os.getuid()
    if SETPRIV is None:
        pytest.skip("running as root without setpriv: cannot start a non-root process")
    nobody = pwd.getpwnam("nobody")
    prefix = [SETPRIV, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    return prefix, nobody.pw_uid


def image_env(data: Path) -> dict[str, str]:
    """The environment the Dockerfile sets, with the data folder at `data`."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "APP_USER": "nobody",
        "APP_DATA_DIR": str(data),
        "TRANSCRIPTS_DIR": str(data / "transcripts"),
        "INDEX_DIR": str(data / "index"),
        "STATE_DIR": str(data / "state"),
    }


def start(prefix: list[str], script: Path, data: Path, *command: str) -> tuple[int, str, str, int]:
    """Run the entrypoint; return its exit code, stdout, stderr and process id."""
    proc = subprocess.Popen(
        [*prefix, str(script), *command],
        env=image_env(data),
        cwd=data.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err, proc.pid


def owners(folder: Path) -> set[tuple[int, int]]:
    paths = [folder, *folder.rglob("*")]
    return {(p.lstat().st_uid, p.lstat().st_gid) for p in paths}


def test_dockerfile_starts_the_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    copied = re.search(r"^COPY\s+docker/entrypoint\.sh\s+(\S+)\s*$", text, re.M)
    assert copied, "the Dockerfile does not copy docker/entrypoint.sh into the image"
    assert re.search(rf'^ENTRYPOINT\s+\["{re.escape(copied[1])}"\]\s*$', text, re.M)
    assert re.search(r'^CMD\s+\["python",\s*"-m",\s*"bot"\]\s*$', text, re.M)
    # Its default app user is the image's unprivileged user ...
    user = re.search(r"useradd\b.*--uid 10001 (\w+)", text)
    assert user and f"APP_USER:-{user[1]}}}" in SCRIPT.read_text()
    # ... and the image starts as root so the entrypoint can chown and drop privileges.
    assert not re.search(r"^USER\s+(?!root\b|0\b)", text, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"docker", "docker/", "docker/entrypoint.sh"} & set(ignored)
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/bin/sh\n")


@pytest.mark.skipif(not IS_ROOT, reason="chown and the privilege drop need root")
@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is not installed")
def test_as_root_a_host_owned_folder_is_given_to_the_app_user(base: Path, script: Path) -> None:
    data = base / "data"  # the bind-mounted host folder, with the shipped transcripts
    (data / "transcripts").mkdir(parents=True)
    (data / "transcripts" / "episode.md").write_text("# Aflevering\n")
    for path in [data, *data.rglob("*")]:
        os.chown(path, HOST_UID, HOST_UID)
    prefix, nobody = unprivileged()
    # The defect: as the app user alone, the state folder cannot be created.
    denied = subprocess.run([*prefix, "mkdir", str(data / "state")], capture_output=True)
    assert denied.returncode != 0 and not (data / "state").exists()

    code, out, err, pid = start([], script, data, "/bin/sh", "-c", REPORT, "sh", "a b", "")

    assert code == 0, err
    gid = pwd.getpwuid(nobody).pw_gid
    home = pwd.getpwuid(nobody).pw_dir
    assert f"pid={pid} uid={nobody} gid={gid} groups={gid} home={home}\n" in out
    assert "arg=a b\narg=\n" in out
    assert (data / "state" / "probe").read_text() == "written\n"
    assert (data / "index").is_dir()
    assert owners(data) == {(nobody, gid)}


def test_non_root_creates_the_folders_and_execs_the_command(base: Path, script: Path) -> None:
    prefix, uid = unprivileged()
    data = base / "data"
    data.mkdir()
    os.chown(data, uid, -1)  # `--user` set to the owner of the host folder

    code, out, err, pid = start(
        prefix, script, data, "/bin/sh", "-c", REPORT + "; exit 7", "sh", "x"
    )

    assert code == 7, err  # the command's own exit code: it replaced the entrypoint
    assert f"pid={pid} uid={uid} " in out
    assert "arg=x\n" in out
    assert (data / "state" / "probe").read_text() == "written\n"
    assert all((data / name).is_dir() for name in ("transcripts", "index", "state"))
    assert err == ""


@pytest.mark.parametrize("blocked", ["data", "state.sqlite"])
def test_non_root_stops_with_a_clear_message_when_data_is_not_writable(
    base: Path, script: Path, blocked: str
) -> None:
    prefix, uid = unprivileged()
    data = base / "data"
    data.mkdir()
    if blocked == "data":  # a host folder that the `--user` uid does not own
        data.chmod(0o555)
        expected = data / "index"
    else:  # a state database left by another uid
        for name in ("transcripts", "index", "state"):
            (data / name).mkdir()
        for path in [data, *data.iterdir()]:
            os.chown(path, uid, -1)
        expected = data / "state" / "state.sqlite"
        expected.write_text("")
        expected.chmod(0o444)

    code, out, err, _ = start(prefix, script, data, "/bin/sh", "-c", "echo started")

    assert code == 2
    assert out == ""  # the command did not run
    assert f"{expected} is niet schrijfbaar" in err
    assert f"is not writable for uid {uid}" in err
    assert '--user "$(id -u):$(id -g)"' in err
