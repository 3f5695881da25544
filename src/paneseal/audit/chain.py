"""The record format, its hash chain and its MAC, and the MAC key.

A record is one JSON object on one line.  Its ``hash`` is SHA-256 over the canonical JSON
(sorted keys, no spaces, UTF-8) of every other field, ``prev`` included, so each record
commits to the whole history before it.  Its ``mac`` is HMAC-SHA256 of that hash under a key
that lives in the config directory, not next to the log: recomputing the plain hash after an
edit is easy, recomputing the MAC needs the key.  The key is created on first use (0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paneseal import paths
from paneseal.errors import AuditError


def _builtin_sha256() -> Any:
    """The built-in SHA-256 loads in 0.2 ms; hashlib (OpenSSL) costs 2-3 ms per process."""
    import importlib

    for name in ("_sha256", "_sha2"):  # CPython <= 3.11, >= 3.12
        try:
            return importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
    from hashlib import sha256  # pragma: no cover - depends on the interpreter

    return sha256  # pragma: no cover


sha256 = _builtin_sha256()

VERSION = 1
GENESIS = "0" * 64
KEY_BYTES = 32

# Every record has these, in this order on disk (the hash does not depend on the order).
FIELDS = (
    "v",
    "seq",
    "ts",
    "event",
    "name",
    "ref",
    "provider",
    "project",
    "session",
    "scope",
    "window",
    "outcome",
    "error",
    "reason",
    "duration_ms",
    "command",
    "uid",
    "user",
    "host",
    "pid",
    "ppid",
    "tty",
    "cwd",
    "prev",
)
EVENTS = ("resolved", "failed", "denied", "delivered", "revoked")


def key_path() -> Path:
    return paths.config_dir() / "audit.key"


def canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 over every field except ``hash`` and ``mac``."""
    clean = {k: v for k, v in body.items() if k not in ("hash", "mac")}
    return str(sha256(canonical(clean)).hexdigest())


_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def hmac_sha256(key: bytes, msg: bytes) -> str:
    """HMAC-SHA256 as in RFC 2104 (checked against ``hmac`` and RFC 4231 in the tests),
    written out so that a ``run`` does not pay for loading OpenSSL."""
    if len(key) > _BLOCK:
        key = sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = sha256(key.translate(_IPAD) + msg).digest()
    return str(sha256(key.translate(_OPAD) + inner).hexdigest())


def mac(key: bytes, digest: str, purpose: str = "record") -> str:
    return hmac_sha256(key, f"{purpose}:{digest}".encode())


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests (``verify``; loads hmac only then)."""
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def seal(body: dict[str, Any], key: bytes) -> str:
    """Add ``hash`` and ``mac`` to a record and return its line (with the newline)."""
    body["hash"] = record_hash(body)
    body["mac"] = mac(key, body["hash"])
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"


def _check_key_file(path: Path) -> None:
    st = path.stat()
    if st.st_uid != os.getuid():
        raise AuditError(
            f"audit key {path} belongs to uid {st.st_uid}, not to you",
            hint=f"chown {os.getuid()} {path}",
        )
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditError(
            f"audit key {path} is readable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):o}): anyone could forge records",
            hint=f"run: chmod 600 {path}",
        )


def _read_key(path: Path) -> bytes:
    _check_key_file(path)
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise AuditError(
            f"audit key {path} is damaged (expected {KEY_BYTES * 2} hex digits)",
            hint="restore it from your backup",
        )
    return key


def load_key(*, create: bool) -> bytes:
    """Read the MAC key; create it (atomically, 0600) when ``create`` and it is absent.

    Creation goes through a temporary file and ``link``, which fails if another process won
    the race, so every process ends up with the same key.
    """
    path = key_path()
    try:
        return _read_key(path)
    except FileNotFoundError:
        if not create:
            raise AuditError(
                f"audit key {path} is missing: the log's MACs cannot be checked",
                hint="restore it from your backup, or move the old log directory "
                f"{paths.state_dir()} away to start a new log",
            ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise AuditError(f"cannot read audit key {path}: {reason}") from None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.parent / f".audit.key.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, os.urandom(KEY_BYTES).hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
        return _read_key(path)
    except OSError as exc:
        raise AuditError(
            f"cannot create audit key {path}: {exc.strerror}",
            hint="make the config directory writable",
        ) from None
