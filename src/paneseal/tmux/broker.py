"""The private channel from paneseal to the shim: a Unix socket that serves values.

Values never travel through tmuxinator's environment, its shell or any argv: the shim asks
this broker at the moment it delivers.  A request is answered only if it comes from our own
uid (``SO_PEERCRED``), carries the run's random token (when there is one), and names the
session being started; the session's values are handed out once.  The socket lives in a
0700 directory of ours.  The client half is ``paneseal.tmux.wire`` (kept import-free).
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from paneseal.tmux import wire
from paneseal.tmux.plan import Delivery
from paneseal.tmux.wire import BrokerRefused

if TYPE_CHECKING:  # pragma: no cover
    import socket

_UCRED = struct.Struct("3i")
Items = list[tuple[str, str]]


class Broker:
    """Serve one session's delivery until ``stop()`` (or ``deadline`` seconds pass).

    ``ready`` is set once the values are resolved; nothing is answered before that.
    ``targets_path``, when given, receives the ``SESSION:INDEX`` targets of the windows that
    have their own secrets once the shim reports the base-index, so the ``sh`` front-end
    hands only those ``new-window``/``split-window`` calls to Python.
    """

    def __init__(
        self,
        delivery: Delivery,
        socket_path: Path | None,
        *,
        token: str | None,
        session: str | None,
        session_served: bool = False,
        deadline: float | None = None,
        targets_path: Path | None = None,
    ) -> None:
        self.delivery = delivery
        self.path = socket_path
        self.token = token
        self.session = session
        self.session_served = session_served
        self.deadline = None if deadline is None else time.monotonic() + deadline
        self.targets_path = targets_path
        self.base: int | None = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self.sock: socket.socket | None = None
        if socket_path is None:  # answered in-process only (paneseal start's relay)
            return
        import socket  # only a served broker needs it: paneseal start's critical path doesn't

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
        if self.sock is None:
            raise ValueError("this broker has no socket to serve")
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
        if self.sock is None or self.path is None:
            return
        import socket

        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _handle(self, conn: socket.socket) -> None:
        import socket

        conn.settimeout(5)
        try:
            raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            _pid, uid, _gid = _UCRED.unpack(raw)
            if uid != os.getuid():
                return
            data = b""
            while len(data) <= wire.MAX_REQUEST:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            if len(data) > wire.MAX_REQUEST:
                return
            try:
                reply = wire.encode(self.answer(dict(wire.decode(data))))
            except BrokerRefused as exc:
                reply = wire.refusal(str(exc))
            conn.sendall(reply)
        except (OSError, ValueError, UnicodeError):
            return

    def answer(self, request: dict[str, str]) -> Items:
        import hmac

        if self.token is not None and not hmac.compare_digest(
            request.get("token", "").encode(), self.token.encode()
        ):
            raise BrokerRefused("wrong token")
        op = request.get("op")
        if op not in ("session", "base", "window", "done"):
            raise BrokerRefused(f"unknown request {op!r}")
        if op == "done":
            self.done.set()
            return [("ok", "1")]
        session = request.get("session")
        if not session:
            raise BrokerRefused("no session named")
        if not self.ready.is_set():
            raise BrokerRefused("the secrets are not resolved yet")
        if op == "session":
            return self._session(session)
        if session != self.session or not self.session_served:
            raise BrokerRefused(f"session {session!r} is not the one being started")
        if op == "base":
            self._set_base(request.get("base", ""))
            return [("ok", "1")]
        if op == "window":
            position = self._position(request)
            return [
                ("e", f"{k}={v}") for k, v in sorted(self.delivery.window_env(position).items())
            ]
        raise BrokerRefused(f"unknown request {op!r}")

    def _session(self, session: str) -> Items:
        if self.session_served:
            raise BrokerRefused("this session's secrets were already handed out")
        if self.session is not None and session != self.session:
            raise BrokerRefused(
                f"session {session!r} is not the one being started ({self.session!r})"
            )
        self.session = session
        self.session_served = True
        env, after = self.delivery.session_env()
        items: Items = [("e", f"{k}={v}") for k, v in sorted(env.items())]
        for name, value in sorted(after.items()):
            items.append(("r", name) if value is None else ("s", f"{name}={value}"))
        return items

    def _set_base(self, text: str) -> None:
        if not text.isdigit():
            raise BrokerRefused("base-index must be a number")
        self.base = int(text)
        if self.targets_path is not None and self.session is not None:
            lines = [f"{self.session}:{self.base + pos}\n" for pos in self.delivery.positions()]
            tmp = self.targets_path.with_suffix(".tmp")
            tmp.write_text("".join(lines), encoding="utf-8")
            tmp.replace(self.targets_path)

    def _position(self, request: dict[str, str]) -> int:
        if request.get("position", "").lstrip("-").isdigit():
            return int(request["position"])
        if request.get("index", "").isdigit() and self.base is not None:
            return int(request["index"]) - self.base
        raise BrokerRefused("need-base")


def ask(path: str, items: Items, timeout: float = 10) -> Items:
    return wire.ask(path, items, timeout)


__all__ = ["Broker", "BrokerRefused", "ask"]
