"""Shared fixtures: every test gets its own HOME, XDG directories and tmux socket dir.

Paths are kept short (under /tmp) because gpg-agent and tmux sockets fail on long paths.
Backend fixtures live in the conftest.py of their own test folder.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pshelp import Home, Put, run_paneseal

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


@pytest.fixture(autouse=True)
def _never_the_real_home(home: Home) -> Home:
    """Every test runs in its own HOME: none may read or write the user's real config,
    store, audit log or scan salt (a test that does would also see stray state)."""
    return home


@pytest.fixture
def store(home: Home) -> Put:
    """An initialised embedded store; call the result to add an entry."""
    r = run_paneseal("store", "init")
    assert r.returncode == 0, r.stderr

    def put(name: str, value: bytes | str) -> None:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        res = run_paneseal("store", "set", "--raw", name, input=data)
        assert res.returncode == 0, res.stderr

    return put
