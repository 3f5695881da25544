"""Fixtures of the tmux tests (helpers live in tmux/tmuxhelp.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tmux.tmuxhelp import Home

if not shutil.which("tmux") or not shutil.which("tmuxinator"):  # pragma: no cover
    pytest.skip("tmux and tmuxinator are required", allow_module_level=True)


@pytest.fixture
def runtime_dir(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR per test, so broker sockets and state are the test's own."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="psr", dir="/tmp"))
    path.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server_socket() -> Iterator[None]:
    """Kill the default-socket server of TMUX_TMPDIR even if a test failed half way."""
    yield
    if os.environ.get("TMUX_TMPDIR"):
        subprocess.run(["tmux", "kill-server"], capture_output=True, check=False)
