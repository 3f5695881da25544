"""The broker's wire format and client, written for the shim's start-up time.

The shim runs once per tmux call tmuxinator makes, so this module imports nothing but C
modules (no ``socket``/``json``/``enum``/``re``).  A message is a list of NUL-separated
``key=value`` items: NUL is the one byte no environment variable can hold, so values need
no escaping.  A reply starting with ``!`` is a refusal and carries a value-free reason.
"""

from __future__ import annotations

import _socket

MAX_REQUEST = 4096


class BrokerRefused(Exception):
    """The broker said no (wrong session, replay, bad token...); the reason names no value."""


def encode(items: list[tuple[str, str]]) -> bytes:
    return b"\0".join(f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in items)


def decode(data: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not data:
        return out
    for item in data.split(b"\0"):
        key, _, value = item.decode("utf-8", "surrogateescape").partition("=")
        out.append((key, value))
    return out


def refusal(reason: str) -> bytes:
    return b"!" + reason.encode("utf-8", "replace")


def ask(path: str, items: list[tuple[str, str]], timeout: float = 10) -> list[tuple[str, str]]:
    """Send one request; raise BrokerRefused on a refusal, OSError if nobody answers."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(encode(items))
        s.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    data = b"".join(chunks)
    if data.startswith(b"!"):
        raise BrokerRefused(data[1:].decode("utf-8", "replace"))
    return decode(data)
