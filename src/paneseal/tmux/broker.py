"""The private channel from paneseal to the shim: a Unix socket that serves values.

Values never travel through tmuxinator's environment, its shell or any argv: the shim asks
this broker at the moment it delivers.  A request is answered only if it comes from our own
uid (``SO_PEERCRED``), carries the run's random token (when there is one), and names the
session being started; the session's values are handed out once.  The socket lives in a
0700 directory of ours.  Stdlib only: the shim imports the client half.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paneseal.tmux.plan import Delivery

MAX_REQUEST = 4096
_UCRED = struct.Struct("3i")


class BrokerRefused(Exception):
    """The broker said no (wrong session, replay, bad token...); the reason names no value."""


def private_dir(path: Path) -> Path:
    """Create ``path`` 0700 (and check an existing one is ours and private)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or not path.is_dir() or path.is_symlink():
        raise PermissionError(f"{path} is not a private directory owned by this user")
    return path


class Broker:
    """Serve one session's delivery until ``stop()`` (or ``deadline`` seconds pass)."""

    def __init__(
        self,
        delivery: Delivery,
        socket_path: Path,
        *,
        token: str | None,
        session: str | None,
        session_served: bool = False,
        deadline: float | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.delivery = delivery
        self.path = socket_path
        self.token = token
        self.session = session
        self.session_served = session_served
        self.deadline = None if deadline is None else time.monotonic() + deadline
        self.on_done = on_done
        self.done = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path)
            self.sock.bind(str(socket_path))
        finally:
            os.umask(old)
        self.sock.listen(16)
        self.sock.settimeout(0.2)

    # ------------------------------------------------------------------ serving

    def serve(self, alive: Callable[[], bool] = lambda: True) -> None:
        try:
            while not self.done.is_set() and alive():
                if self.deadline is not None and time.monotonic() > self.deadline:
                    break
                try:
                    conn, _ = self.sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                with conn:
                    self._handle(conn)
        finally:
            self.stop()

    def start_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve, name="paneseal-broker", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self.done.set()
        self.delivery.clear()
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        if self.on_done is not None:
            self.on_done()
            self.on_done = None

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            _pid, uid, _gid = _UCRED.unpack(raw)
            if uid != os.getuid():
                return
            request = json.loads(_read_line(conn))
            reply = self.answer(request)
        except BrokerRefused as exc:
            reply = {"error": str(exc)}
        except (OSError, ValueError):
            return
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(reply).encode() + b"\n")

    def answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise BrokerRefused("malformed request")
        if self.token is not None and not hmac.compare_digest(
            str(request.get("token", "")), self.token
        ):
            raise BrokerRefused("wrong token")
        op = request.get("op")
        session = request.get("session")
        if op == "done":
            self.done.set()
            return {"ok": True}
        if not isinstance(session, str):
            raise BrokerRefused("no session named")
        if op == "session":
            if self.session_served:
                raise BrokerRefused("this session's secrets were already handed out")
            if self.session is not None and session != self.session:
                raise BrokerRefused(
                    f"session {session!r} is not the one being started ({self.session!r})"
                )
            self.session = session
            self.session_served = True
            env, after = self.delivery.session_env()
            return {"env": env, "after": after}
        if op == "window":
            if not self.session_served or session != self.session:
                raise BrokerRefused(f"session {session!r} is not the one being started")
            position = request.get("position")
            if not isinstance(position, int):
                raise BrokerRefused("no window position")
            return {"env": self.delivery.window_env(position)}
        raise BrokerRefused(f"unknown request {op!r}")


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too long")
    return data.split(b"\n", 1)[0]


# ---------------------------------------------------------------------- client


def ask(socket_path: str, request: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    """One request; raises BrokerRefused on a refusal, OSError if nobody answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(socket_path)
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data or b"{}")
    if not isinstance(reply, dict):
        raise BrokerRefused("malformed reply")
    if "error" in reply:
        raise BrokerRefused(str(reply["error"]))
    return reply
