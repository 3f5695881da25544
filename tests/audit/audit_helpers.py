"""Helpers for the audit tests: config.toml writer and small file systems made by the test.

Not a conftest.py: ``from conftest import ...`` must keep meaning tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def write_settings(config_dir: Path, text: str) -> None:
    directory = config_dir / "paneseal"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / "config.toml").write_text(text)


@contextlib.contextmanager
def tmpfs(target: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """Mount a small tmpfs on ``target`` (root only); skip when mounting is not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(target)],
        capture_output=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def remount_read_only(target: Path) -> None:
    r = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True)
    assert r.returncode == 0, r.stderr


def fill(target: Path) -> None:
    """Write until the file system is full (then not one more byte fits)."""
    fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def short_tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="pa", dir="/tmp"))
