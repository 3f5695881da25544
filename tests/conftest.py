"""Shared fixtures: every test gets its own HOME, XDG directories and tmux socket dir.

Paths are kept short (under /tmp) because gpg-agent and tmux sockets fail on long paths.
Backend fixtures live in the conftest.py of their own test folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV_DROP = (
    "TMUX",
    "TMUX_PANE",
    "TMUXINATOR_CONFIG",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "BAO_ADDR",
    "BAO_TOKEN",
    "AWS_PROFILE",
    "PASSWORD_STORE_DIR",
    "GNUPGHOME",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
)


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / ".config"

    @property
    def data(self) -> Path:
        return self.root / ".local" / "share"

    @property
    def state(self) -> Path:
        return self.root / ".local" / "state"

    @property
    def tmuxinator(self) -> Path:
        return self.config / "tmuxinator"

    def env(self) -> dict[str, str]:
        return dict(os.environ)


def canary(prefix: str = "CANARY") -> str:
    """A random value that can only appear somewhere if paneseal put it there."""
    return f"{prefix}_{secrets.token_hex(12)}"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    root = Path(tempfile.mkdtemp(prefix="ps", dir="/tmp"))
    for var in ENV_DROP:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(root / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / ".cache"))
    monkeypatch.setenv("TMUX_TMPDIR", str(root / "tmux"))
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("HISTFILE", str(root / ".bash_history"))
    (root / "tmux").mkdir(mode=0o700)
    (root / ".config" / "tmuxinator").mkdir(parents=True)
    try:
        yield Home(root)
    finally:
        # stop any tmux server a test left in this home
        sock_dir = root / "tmux"
        for sock in sock_dir.rglob("*"):
            if sock.is_socket():
                subprocess.run(
                    ["tmux", "-S", str(sock), "kill-server"], capture_output=True, check=False
                )
        shutil.rmtree(root, ignore_errors=True)


def paneseal_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "paneseal", *args]


def run_paneseal(
    *args: str,
    input: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run(
        paneseal_argv(*args),
        input=data,
        capture_output=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


@pytest.fixture
def store(home: Home) -> Callable[[str, bytes | str], None]:
    """An initialised embedded store; call the result to add an entry."""
    r = run_paneseal("store", "init")
    assert r.returncode == 0, r.stderr

    def put(name: str, value: bytes | str) -> None:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        res = run_paneseal("store", "set", "--raw", name, input=data)
        assert res.returncode == 0, res.stderr

    return put


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> object:
    """Retry until ``predicate`` is truthy (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def files_containing(root: Path, needle: bytes, skip: Sequence[Path] = ()) -> list[Path]:
    """Every regular file under ``root`` whose bytes contain ``needle``."""
    hits: list[Path] = []
    for p in root.rglob("*"):
        if any(p == s or s in p.parents for s in skip):
            continue
        try:
            if p.is_file() and not p.is_symlink() and needle in p.read_bytes():
                hits.append(p)
        except OSError:
            continue
    return hits


def all_cmdlines() -> list[bytes]:
    out: list[bytes] = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                    out.append(fh.read())
            except OSError:
                continue
    return out
