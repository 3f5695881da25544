"""The relay: the shim (compiled, and the ``sh`` one where no compiler is found: every
case runs on both) hands its delivering calls to the paneseal process over FIFOs (token
checked, one call at a time, every caller gets its own exit status, a call after the relay
stopped fails instead of hanging or passing without its secrets)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from paneseal.launch import write_shim
from paneseal.tmux.broker import Broker
from paneseal.tmux.plan import Delivery
from paneseal.tmux.relay import Relay
from tmux.tmuxhelp import Home, canary

TOKEN = "t0ken-" + "ab" * 8


@dataclass
class Rig:
    workdir: Path
    shim: Path
    sock: list[str]
    broker: Broker
    relay: Relay
    thread: threading.Thread
    value: str

    def call(self, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "PANESEAL_TOKEN": token}
        env["PATH"] = f"{self.workdir / 'bin'}{os.pathsep}{env['PATH']}"
        return subprocess.run(
            [str(self.shim), *self.sock, *args], env=env, capture_output=True, timeout=20
        )

    def tmux(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["tmux", *self.sock, *args], capture_output=True, check=False)


@pytest.fixture(params=["compiled", "sh"])
def rig(
    home: Home, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rig]:
    if request.param == "sh":
        monkeypatch.setenv("PANESEAL_SHIM", "sh")
    workdir = Path(tempfile.mkdtemp(prefix="psr", dir="/tmp"))
    workdir.chmod(0o700)
    (workdir / "bin").mkdir(mode=0o700)
    real = shutil.which("tmux")
    assert real
    sock = ["-S", str(workdir / "t.sock"), "-f", "/dev/null"]
    value = canary()
    broker = Broker(Delivery({"RELAY_SECRET": value}), None, token=TOKEN, session="web")
    relay = Relay(broker, workdir, real)
    shim = write_shim(workdir, "tmux", real)
    assert (shim.read_bytes().startswith(b"#!")) == (request.param == "sh")
    thread = threading.Thread(target=relay.serve, daemon=True)
    thread.start()
    broker.ready.set()
    (workdir / "ready").touch()
    rig = Rig(workdir, shim, sock, broker, relay, thread, value)
    yield rig
    relay.close()
    thread.join(5)
    rig.tmux("kill-server")
    shutil.rmtree(workdir, ignore_errors=True)


def test_relay_creates_the_session_with_the_value(rig: Rig) -> None:
    r = rig.call("new-session", "-d", "-s", "web", "-x", "80", "-y", "24")
    assert r.returncode == 0, r.stderr
    shown = rig.tmux("show-environment", "-t", "web", "RELAY_SECRET").stdout
    assert shown == f"RELAY_SECRET={rig.value}\n".encode()
    assert b"RELAY_SECRET" not in rig.tmux("show-environment", "-g").stdout
    assert rig.value.encode() not in r.stdout + r.stderr


def test_relay_refuses_a_wrong_token(rig: Rig) -> None:
    r = rig.call("new-session", "-d", "-s", "web", token="wrong")
    assert r.returncode == 1
    assert b"wrong token" in r.stderr
    assert rig.tmux("has-session", "-t", "=web").returncode != 0
    # the session's values are still there for the right caller (nothing was handed out)
    assert rig.call("new-session", "-d", "-s", "web").returncode == 0


def test_concurrent_calls_each_get_their_own_status(rig: Rig) -> None:
    assert rig.call("new-session", "-d", "-s", "web").returncode == 0
    targets = [f"web:{i}" if i % 2 else f"nosuch:{i}" for i in range(1, 9)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: rig.call("new-window", "-d", "-t", t), targets))
    for target, r in zip(targets, results, strict=True):
        expected = 0 if target.startswith("web") else 1
        assert r.returncode == expected, (target, r.stderr)
    assert rig.tmux("list-windows", "-t", "web").stdout.count(b"\n") == 5
    assert not (rig.workdir / "lock").exists()


def test_after_the_relay_stops_calls_fail_but_attach_passes(rig: Rig) -> None:
    assert rig.call("new-session", "-d", "-s", "web").returncode == 0
    rig.relay.close()
    rig.thread.join(5)
    r = rig.call("new-window", "-t", "web:5")
    assert r.returncode == 1
    assert b"no longer serves" in r.stderr
    # an attach carries no secret: it goes straight to tmux (which fails here: no terminal)
    r = rig.call("attach-session", "-t", "web")
    assert b"no longer serves" not in r.stderr
    assert b"not a terminal" in r.stderr or b"open terminal" in r.stderr


def test_version_is_answered_as_the_real_tmux_answers(rig: Rig) -> None:
    def version(*args: str) -> bytes:
        env = {**os.environ, "PATH": f"{rig.workdir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run([str(rig.shim), *args], env=env, capture_output=True).stdout

    real = subprocess.run(["tmux", "-V"], capture_output=True, check=True).stdout
    assert version("-V") == real  # no version file: the real tmux answers
    (rig.workdir / "version").write_bytes(b"tmux 9.9z\n")  # what paneseal read once
    assert version("-V") == b"tmux 9.9z\n"
    assert version("-L", "x", "-V") == real  # only the bare question is answered
