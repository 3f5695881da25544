"""Helpers for real tmux + tmuxinator tests: project writer, pane inspection, /proc sampling.

Imported as ``tmux.tmuxhelp`` (tests/ is on sys.path); the shared helpers come from
tests/pshelp.py.  Every test runs in the root ``home`` fixture
(own HOME, XDG dirs and TMUX_TMPDIR, servers killed afterwards) and starts projects through
the real ``paneseal`` / ``tmuxinator`` commands.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pshelp import Home, Put, canary, run_paneseal, wait_until

__all__ = ["Home", "Put", "canary", "run_paneseal", "wait_until"]


def tmux(*args: str, check: bool = True, socket: Sequence[str] = ()) -> str:
    r = subprocess.run(["tmux", *socket, *args], capture_output=True, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"tmux {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode("utf-8", "surrogateescape")


def has_session(name: str, socket: Sequence[str] = ()) -> bool:
    r = subprocess.run(["tmux", *socket, "has-session", "-t", f"={name}"], capture_output=True)
    return r.returncode == 0


@dataclass(frozen=True)
class Pane:
    window: int  # position of the window in the project (index - base-index)
    pane: int
    pid: int

    def environ(self) -> dict[str, str]:
        raw = Path(f"/proc/{self.pid}/environ").read_bytes()
        out: dict[str, str] = {}
        for item in raw.split(b"\0"):
            if b"=" in item:
                k, _, v = item.partition(b"=")
                out[k.decode()] = v.decode("utf-8", "surrogateescape")
        return out


def panes(session: str, socket: Sequence[str] = ()) -> list[Pane]:
    out = tmux(
        "list-panes", "-s", "-t", f"={session}", "-F",
        "#{window_index} #{pane_index} #{pane_pid}", socket=socket,
    )  # fmt: skip
    base = int(tmux("show-options", "-gv", "base-index", socket=socket).strip() or 0)
    result = []
    for line in out.splitlines():
        w, p, pid = line.split()
        result.append(Pane(int(w) - base, int(p), int(pid)))
    return result


def tmux_server_pids() -> set[int]:
    """tmux servers of this test (their environment names our TMUX_TMPDIR): other people's
    tests run tmux on this machine at the same time."""
    mine = f"TMUX_TMPDIR={os.environ.get('TMUX_TMPDIR', '')}".encode() + b"\0"
    pids: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
            if comm != "tmux: server":
                continue
            env = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if mine in env:
            pids.add(int(entry.name))
    return pids


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


def simple_project(root: Path, **extra: object) -> dict[str, object]:
    """Two windows of two panes: APP_TOKEN for the project, WIN_KEY for window ``one``."""
    return {
        "root": str(root),
        "secrets": {"APP_TOKEN": "store://token"},
        "windows": [
            {"one": {"secrets": {"WIN_KEY": "store://winkey"}, "panes": ["echo a", "echo b"]}},
            {"two": {"panes": ["echo c", "echo d"]}},
        ],
        **extra,
    }


def write_project(home: Home, name: str, data: dict[str, Any], filename: str = "") -> Path:
    path = home.tmuxinator / f"{filename or name}.yml"
    path.write_text(yaml.safe_dump({"name": name, **data}, sort_keys=False))
    return path


def shell_env() -> dict[str, str]:
    """The environment a user's shell would hand paneseal / tmuxinator."""
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@dataclass
class Sampler:
    """Reads ``/proc/*/cmdline`` (and ``environ``) of every process every few ms."""

    needles: dict[str, bytes]
    cmdline_hits: list[tuple[str, int, bytes]] = field(default_factory=list)
    environ_hits: dict[int, set[str]] = field(default_factory=dict)
    environ_cmd: dict[int, bytes] = field(default_factory=dict)
    environ_ancestors: dict[int, list[int]] = field(default_factory=dict)
    rounds: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _scan(self) -> None:
        me = os.getpid()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            pid = int(entry.name)
            try:
                # the parent first: a short-lived child may be gone once its environ is read
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read()
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    env = fh.read()
            except OSError:
                continue
            for label, needle in self.needles.items():
                if needle in cmd:
                    self.cmdline_hits.append((label, pid, cmd[:200]))
                if needle in env:
                    self.environ_hits.setdefault(pid, set()).add(label)
                    self.environ_cmd[pid] = cmd[:200]
                    if pid not in self.environ_ancestors:
                        self.environ_ancestors[pid] = [ppid, *ancestors(ppid)]
        self.rounds += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._scan()
            time.sleep(0.003)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)
        self._scan()


def files_with(
    roots: Sequence[Path], needles: dict[str, bytes], skip: Sequence[Path] = ()
) -> list[tuple[str, Path]]:
    """Every regular file under ``roots`` holding a needle (files over 32 MiB skipped)."""
    hits: list[tuple[str, Path]] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
            d = Path(dirpath)
            if any(d == s or s in d.parents for s in skip):
                dirnames[:] = []
                continue
            for fn in filenames:
                p = d / fn
                try:
                    if p.is_symlink() or not p.is_file() or p.stat().st_size > 32 << 20:
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                hits += [(label, p) for label, n in needles.items() if n in data]
    return hits
