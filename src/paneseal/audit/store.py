"""Where the log lives and how records are appended: lock, chain head, rotation, syslog.

Every append happens under an exclusive ``flock`` on ``audit.lock`` (a file of its own, so
rotation never swaps the lock away under a waiting process).  The whole batch of one call is
a single ``write`` followed by ``fdatasync``; if that fails the file is cut back to its old
length, so a full disk leaves no half record, and the caller gets ``AuditError``.

``audit.head`` holds the sequence number and hash of the newest record, MACed: it is what
lets ``verify`` notice that lines were cut from the end of the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from paneseal import paths
from paneseal.audit import chain
from paneseal.errors import AuditError

LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
LOCK_NAME = "audit.lock"
_ROTATED = re.compile(re.escape(LOG_NAME) + r"\.([0-9]+)")
TAIL_BYTES = 65536
HEAD_SIZE = 256
SYSLOG_SOCKET = "/dev/log"
SYSLOG_PRI = 10 * 8 + 6  # facility authpriv, severity info


def log_dir() -> Path:
    return paths.state_dir()


def log_path() -> Path:
    return log_dir() / LOG_NAME


def head_path() -> Path:
    return log_dir() / HEAD_NAME


def log_files(directory: Path | None = None) -> list[Path]:
    """Rotated files oldest first (``audit.jsonl.1``, ``.2``, ...), then the live file."""
    directory = directory or log_dir()
    numbered: list[tuple[int, Path]] = []
    try:
        for entry in os.scandir(directory):
            m = _ROTATED.fullmatch(entry.name)
            if m:
                numbered.append((int(m.group(1)), Path(entry.path)))
    except FileNotFoundError:
        return []
    files = [p for _, p in sorted(numbered)]
    live = directory / LOG_NAME
    if live.exists():
        files.append(live)
    return files


class Head(NamedTuple):
    """The newest record's sequence number and hash (a NamedTuple: cheap to define)."""

    seq: int
    hash: str


def read_head(key: bytes) -> Head | None:
    """The MACed head, or None when it is missing or does not verify."""
    try:
        data = json.loads(head_path().read_bytes())
        head = Head(int(data["seq"]), str(data["hash"]))
        # plain ==: no remote oracle here, and a wrong head only moves where the next record
        # attaches, which verify checks again in constant time
        ok = chain.mac(key, f"{head.seq}:{head.hash}", "head") == data["mac"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return head if ok else None


def _write_head(directory: Path, head: Head, key: bytes) -> None:
    """Overwrite the head in place: one fixed-size ``pwrite``, no rename.

    Cheap on purpose (a rename-over costs a journal flush on ext4).  A torn write fails
    its MAC and the writer falls back to the log's tail.
    """
    body = {"seq": head.seq, "hash": head.hash}
    body["mac"] = chain.mac(key, f"{head.seq}:{head.hash}", "head")
    data = json.dumps(body).encode().ljust(HEAD_SIZE - 1) + b"\n"
    fd = os.open(directory / HEAD_NAME, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        if os.pwrite(fd, data, 0) != len(data):
            raise OSError(28, "short write to the audit head")
        if os.fstat(fd).st_size != HEAD_SIZE:
            os.ftruncate(fd, HEAD_SIZE)
    finally:
        os.close(fd)


def last_record(path: Path) -> tuple[Head | None, bool]:
    """The newest complete record of one file, and whether the file holds any bytes."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return None, False
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read()
    except FileNotFoundError:
        return None, False
    return _parse_last(tail)


def _mend_torn_tail(directory: Path, head: Head | None) -> bytes:
    """Handle a live file that ends mid-line (a writer died inside its ``write``).

    The head is written after the records, so if the complete part of the file ends at
    the record the head names, the fragment was never committed and is cut off.  Anything
    else is left for ``verify`` to report, and the next records start on a line of their
    own.  Returns what to write before the next records (nothing, or a newline).
    """
    live = directory / LOG_NAME
    try:
        with open(live, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return b""
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return b""
            start = max(0, size - TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
    except FileNotFoundError:
        return b""
    cut = tail.rfind(b"\n")
    if cut >= 0:
        keep = start + cut + 1
        complete, _ = _parse_last(tail[: cut + 1])
    elif start == 0:
        keep = 0
        older = [p for p in log_files(directory) if p != live]
        complete = last_record(older[-1])[0] if older else None
    else:
        return b"\n"
    if complete == head:
        os.truncate(live, keep)
        return b""
    return b"\n"


def _parse_last(tail: bytes) -> tuple[Head | None, bool]:
    lines = tail.split(b"\n")
    last = lines[-2] if tail.endswith(b"\n") and len(lines) >= 2 else b""
    try:
        data = json.loads(last)
        return Head(int(data["seq"]), str(data["hash"])), True
    except (ValueError, KeyError, TypeError):
        return None, True


def _ensure_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.stat()
    if st.st_uid != os.getuid():
        raise AuditError(
            f"audit log directory {directory} belongs to uid {st.st_uid}, not to you",
            hint=f"chown {os.getuid()} {directory}",
        )
    if st.st_mode & 0o077:
        os.chmod(directory, 0o700)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _chain_state(directory: Path, key: bytes) -> Head | None:
    """Where the next record attaches: the newer of the head file and the log's tail.

    A head newer than the tail means lines were cut from the end: attaching to the head
    keeps that gap visible to ``verify``.  A tail newer than the head means a writer died
    between its two writes: attach to the tail.
    """
    head = read_head(key)
    files = log_files(directory)
    tail: Head | None = None
    has_bytes = False
    for path in reversed(files):
        tail, has_bytes = last_record(path)
        if has_bytes:
            break
    if tail is not None and (head is None or tail.seq >= head.seq):
        return tail
    if head is not None:
        return head
    if has_bytes:
        raise AuditError(
            f"the audit log in {directory} is damaged: its last record is unreadable and "
            f"{HEAD_NAME} is missing or does not verify",
            hint=f"run 'paneseal log verify', then move the log away: mv {directory} "
            f"{directory}.damaged",
        )
    return None


def _next_rotated(directory: Path) -> Path:
    numbers = [int(m.group(1)) for m in (_ROTATED.fullmatch(n) for n in os.listdir(directory)) if m]
    return directory / f"{LOG_NAME}.{max(numbers, default=0) + 1}"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def append(
    bodies: Sequence[dict[str, Any]], *, max_bytes: int, sync: bool = True
) -> list[dict[str, Any]]:
    """Chain, seal and append records in one locked write.  Returns them as written.

    ``sync`` makes the records (and every earlier one) durable before returning: the
    caller asks for it when delivery follows.
    """
    directory = log_dir()
    live = directory / LOG_NAME
    try:
        _ensure_dir(directory)
        with locked(directory):
            has_log = bool(log_files(directory))
            key = chain.load_key(create=not has_log)
            prefix = _mend_torn_tail(directory, read_head(key))
            state = _chain_state(directory, key)
            seq = state.seq if state else 0
            prev = state.hash if state else chain.GENESIS
            lines: list[str] = []
            for body in bodies:
                seq += 1
                body["seq"] = seq
                body["prev"] = prev
                lines.append(chain.seal(body, key))
                prev = body["hash"]
            data = prefix + "".join(lines).encode("utf-8", "surrogateescape")
            with contextlib.suppress(FileNotFoundError):
                size = live.stat().st_size
                if size and size + len(data) > max_bytes:
                    os.rename(live, _next_rotated(directory))
            start = _write_all(live, data, sync=sync)
            try:
                _write_head(directory, Head(seq, prev), key)
            except OSError:
                _truncate(live, start)  # a record without its head would read as tampering
                raise
    except OSError as exc:
        raise AuditError(
            f"cannot write the audit log {live}: {_os_reason(exc)}; nothing was delivered",
            hint='free space or fix permissions, or set audit = "best-effort" in '
            f"{paths.settings_path()} to deliver without a record",
        ) from None
    return list(bodies)


def _truncate(path: Path, size: int) -> None:
    with contextlib.suppress(OSError):
        os.truncate(path, size)


def _write_all(path: Path, data: bytes, *, sync: bool) -> int:
    """Append ``data`` durably; return the offset it starts at."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if sync:
                os.fdatasync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # never leave half a record behind
            raise
    finally:
        os.close(fd)
    return start


def forward_to_syslog(bodies: Sequence[dict[str, Any]]) -> str | None:
    """Send each record to the local syslog socket; return a reason on failure.

    ``PANESEAL_AUDIT_SYSLOG_SOCKET`` points at another socket (tests, containers).
    """
    import socket  # only when forwarding: it costs 2 ms to import

    target = os.environ.get("PANESEAL_AUDIT_SYSLOG_SOCKET") or SYSLOG_SOCKET
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            for body in bodies:
                line = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
                msg = f"<{SYSLOG_PRI}>paneseal[{os.getpid()}]: {line}"
                sock.send(msg.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        return f"cannot forward audit records to syslog ({target}): {_os_reason(exc)}"
    return None
