"""The ``sh`` shim's calls that deliver secrets, run inside ``paneseal start`` itself.

A Python shim process costs 10-15 ms of start-up per call on tmuxinator's critical path.
Under ``paneseal start`` the values are already in this process, so the ``sh`` front-end
hands the whole call over instead: it writes the run's token, its pid and its argv
(NUL-separated) into the ``req`` FIFO of the private 0700 run directory and reads the
outcome from ``resp``.  This process then runs ``tmux [globals] start-server ; source-file
-`` itself, in the shim's working directory and with the shim's environment (minus
paneseal's own variables and the shim directory on ``PATH``), and writes the command with
its ``-e NAME=VALUE`` options to that tmux client's stdin.  The values never leave this
process except through that pipe.  Calls that carry no secret are answered ``x``: the shim
execs the real tmux itself.

Reply format (lines, for ``read`` in ``sh``): ``x``, or the exit code followed by the
tmux client's stdout lines prefixed ``1`` and its stderr lines prefixed ``2``.  One call
at a time: the shim takes ``lock`` (created with noclobber) before writing ``req``; this
side replaces ``resp`` with a fresh FIFO and then removes ``lock`` once it has answered,
so a slow reader never sees the next call's reply.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from paneseal.tmux import argv as targv
from paneseal.tmux.broker import Broker
from paneseal.tmux.shim import OWN_VARS, SCRIPT_MARK, BrokerSource, ShimError, handle
from paneseal.tmux.wire import BrokerRefused

Items = list[tuple[str, str]]

MAX_REQUEST = 1 << 20  # an argv, never a value; tmuxinator's are a few hundred bytes
_POLL_MS = 200


class _InProcess(BrokerSource):
    """The shim's view of the broker, without the socket: same checks (token, session,
    once), answered by a direct call."""

    def __init__(self, broker: Broker, token: str) -> None:
        super().__init__("", token)
        self.broker = broker

    def _ask(self, items: Items) -> Items:
        return self.broker.answer(dict([("token", self.token), *items]))

    def done(self, parsed: targv.TmuxArgv) -> None:
        with contextlib.suppress(BrokerRefused):
            self._ask([("op", "done")])


class Relay:
    """Serve the shim's delegated calls for one run, until the broker is done."""

    def __init__(self, broker: Broker, workdir: Path, real: str) -> None:
        self.broker = broker
        self.workdir = workdir
        self.real = real
        self.req = workdir / "req"
        self.resp = workdir / "resp"
        self.lock = workdir / "lock"
        self.shim_dir = str(workdir / "bin")
        os.mkfifo(self.req, 0o600)
        os.mkfifo(self.resp, 0o600)

    # ------------------------------------------------------------------ the loop

    def serve(self) -> None:
        try:
            while not self.broker.done.is_set():
                request = self._read_request()
                if request is None:
                    continue
                reply = self._answer(request)
                self._reply(reply)
        finally:
            self.close()

    def close(self) -> None:
        """Stop: a shim blocked opening ``req`` gets a broken pipe instead of waiting."""
        self.broker.done.set()
        with contextlib.suppress(OSError):  # wakes our own thread, waiting for a request
            os.close(os.open(self.req, os.O_WRONLY | os.O_NONBLOCK))
        with contextlib.suppress(OSError):
            os.close(os.open(self.req, os.O_RDONLY | os.O_NONBLOCK))
        with contextlib.suppress(OSError):  # and one waiting for a reply reads an empty one
            os.close(os.open(self.resp, os.O_WRONLY | os.O_NONBLOCK))
        for path in (self.req, self.resp):
            with contextlib.suppress(OSError):
                path.unlink()

    def _read_request(self) -> bytes | None:
        fd = os.open(self.req, os.O_RDONLY | os.O_NONBLOCK)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            chunks: list[bytes] = []
            size = 0
            got_data = False
            while not self.broker.done.is_set():
                if not poller.poll(_POLL_MS):
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    if got_data:
                        return b"".join(chunks)
                    return None  # a writer came and went without a word
                got_data = True
                size += len(chunk)
                if size > MAX_REQUEST:
                    return b""
                chunks.append(chunk)
            return None
        finally:
            os.close(fd)

    def _answer(self, request: bytes) -> bytes:
        items = request.split(b"\0")
        if items and items[-1] == b"":
            items.pop()
        if len(items) < 2 or not items[1].isdigit():
            return b"1\n2paneseal: error: malformed request to paneseal's relay\n"
        token = items[0].decode("utf-8", "surrogateescape")
        pid = int(items[1])
        args = [a.decode("utf-8", "surrogateescape") for a in items[2:]]
        try:
            env, cwd = self._caller(pid)
            result = handle(self.real, args, _InProcess(self.broker, token), self._runner(env, cwd))
        except (ShimError, BrokerRefused, OSError) as exc:
            _stop_script(pid)
            return f"1\n2paneseal: error: {exc}\n".encode("utf-8", "replace")
        if result is None:
            return b"x\n"
        rc, out, err = result
        lines = [str(rc).encode()]
        lines += [b"1" + line for line in out.splitlines()]
        lines += [b"2" + line for line in err.splitlines()]
        return b"\n".join(lines) + b"\n"

    def _caller(self, pid: int) -> tuple[dict[str, str], str]:
        """The environment and directory the shim would have given tmux."""
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
        env: dict[str, str] = {}
        for item in raw.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep:
                env[key.decode("utf-8", "surrogateescape")] = value.decode(
                    "utf-8", "surrogateescape"
                )
        for var in OWN_VARS:
            env.pop(var, None)
        path = env.get("PATH", "")
        if path.startswith(self.shim_dir + os.pathsep):
            env["PATH"] = path[len(self.shim_dir) + 1 :]
        return env, cwd

    @staticmethod
    def _runner(
        env: dict[str, str], cwd: str
    ) -> Callable[[list[str], bytes], tuple[int, bytes, bytes]]:
        def run(argv: list[str], data: bytes) -> tuple[int, bytes, bytes]:
            p = subprocess.run(argv, input=data, capture_output=True, env=env, cwd=cwd, check=False)
            return p.returncode, p.stdout, p.stderr

        return run

    def _reply(self, reply: bytes) -> None:
        """Write the reply, then give the next call a fresh ``resp`` and the lock."""
        deadline = time.monotonic() + 5
        fd = -1
        while fd < 0 and time.monotonic() < deadline:
            try:
                fd = os.open(self.resp, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: the shim has not opened it for reading yet
                time.sleep(0.0005)
        if fd >= 0:
            try:
                os.set_blocking(fd, True)
                view = memoryview(reply)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                pass
            finally:
                os.close(fd)
        with contextlib.suppress(OSError):
            self.resp.unlink()
        with contextlib.suppress(OSError):
            os.mkfifo(self.resp, 0o600)
        with contextlib.suppress(OSError):
            self.lock.unlink()


def _stop_script(pid: int) -> None:
    """Fail closed, as the Python shim does: tmuxinator's script (the shim's parent) runs
    on after a failed tmux call and would type pane commands into whatever ``NAME:0``
    matches.  Stop it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        if SCRIPT_MARK in Path(f"/proc/{ppid}/cmdline").read_bytes():
            os.kill(ppid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        return
