"""Helpers every test folder shares (a module of its own: each folder's conftest.py is
imported under the name ``conftest``, so importing helpers from there is ambiguous)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# what the ``store`` fixture returns: put(name, value) adds an entry to the embedded store
Put = Callable[[str, bytes | str], None]


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


REPO = Path(__file__).resolve().parent.parent
# ../shared beside the checkout, as in the workspace and in CI; tests that need it skip
# with this reason where it is absent.
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "tmuxinator-real"
NO_CORPUS = "../shared/corpus/tmuxinator-real is absent (run inside the workspace)"


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
