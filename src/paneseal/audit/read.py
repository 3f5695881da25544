"""Reading the log back: records for ``log`` and ``review``, and ``verify``.

``verify`` walks every file oldest first and checks, for each line: it is a complete JSON
record; its hash matches its content (edits); its MAC matches under the key (forged lines
whose plain hash was recomputed); its sequence number is the next one (deleted or reordered
lines); its ``prev`` is the hash of the line before (spliced or inserted lines).  At the end
the last record must be the one ``audit.head`` names (lines cut from the end).  It stops at
the first bad line and names it as ``file:line``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paneseal.audit import chain, store
from paneseal.errors import AuditError, UsageError

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2h``, ``30m``, ``7d``, ``1w``, ``1h30m`` or an ISO date/time (UTC if no zone)."""
    now = now or datetime.now(UTC)
    compact = text.strip().replace(" ", "")
    pos = 0
    seconds = 0.0
    for m in _DURATION.finditer(compact):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if compact and pos == len(compact):
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: not a duration or a date",
            hint="use e.g. 2h, 30m, 7d, 1w or 2026-12-01T08:00",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_ts(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def iter_records(directory: Path | None = None) -> Iterator[dict[str, Any]]:
    """Every readable record, oldest first; damaged lines are skipped (``verify`` names them)."""
    for path in store.log_files(directory):
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below, generator-safe
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {path}: {exc.strerror}") from None
        with fh:
            for raw in fh:
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    yield data


def project_matches(record_project: str | None, wanted: str) -> bool:
    if record_project is None:
        return wanted in ("-", "")
    if record_project == wanted:
        return True
    p = Path(record_project)
    if p.stem == wanted:
        return True
    try:
        return Path(wanted).resolve() == p.resolve()
    except OSError:
        return False


@dataclass
class Filter:
    project: str | None = None
    secret: str | None = None
    since: datetime | None = None
    failed: bool = False

    def __call__(self, rec: dict[str, Any]) -> bool:
        if self.project is not None and not project_matches(rec.get("project"), self.project):
            return False
        if self.secret is not None and self.secret not in (rec.get("name"), rec.get("ref")):
            return False
        if self.failed and rec.get("event") not in ("failed", "denied"):
            return False
        if self.since is not None:
            ts = parse_ts(str(rec.get("ts", "")))
            if ts is None or ts < self.since:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Verification:
    records: int = 0
    files: list[str] = field(default_factory=list)
    problem: Problem | None = None
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def _find_seq(lines: Sequence[bytes], wanted: int) -> int | None:
    """Index of the line holding record ``wanted`` (only asked once something is wrong)."""
    for i, raw in enumerate(lines):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            if json.loads(raw).get("seq") == wanted:
                return i
    return None


def _check_line(
    raw: bytes, key: bytes, seq: int, prev: str, rest: Sequence[bytes] = ()
) -> tuple[str | None, Any]:
    """One line against the chain so far: (problem or None, parsed record)."""
    if not raw.endswith(b"\n"):
        return "incomplete last line (the log was cut mid-record)", None
    try:
        rec = json.loads(raw)
    except ValueError:
        return "not a JSON record (damaged or hand-edited)", None
    if not isinstance(rec, dict):
        return "not a JSON record (damaged or hand-edited)", None
    missing = [k for k in (*chain.FIELDS, "hash", "mac") if k not in rec]
    if missing:
        return f"record lacks field(s) {', '.join(missing)}", rec
    if chain.record_hash(rec) != rec["hash"]:
        return f"record #{rec['seq']} was altered: its content does not match its hash", rec
    if not chain.same(chain.mac(key, str(rec["hash"])), str(rec["mac"])):
        return (
            f"record #{rec['seq']} has a MAC that does not verify: forged, or written "
            "with another key",
            rec,
        )
    got = rec["seq"]
    if got != seq + 1:
        later = _find_seq(rest, seq + 1)
        if later is not None:
            return (
                f"record #{got} found where #{seq + 1} was expected; #{seq + 1} comes "
                f"{later + 1} line(s) later (lines reordered)",
                rec,
            )
        if isinstance(got, int) and got > seq + 1:
            gap = f"#{seq + 1}" if got == seq + 2 else f"#{seq + 1} to #{got - 1}"
            return f"record(s) {gap} missing before record #{got} (deleted)", rec
        return f"record #{got} found where #{seq + 1} was expected (lines reordered)", rec
    if rec["prev"] != prev:
        return f"record #{got} does not chain to the line before it (spliced)", rec
    return None, rec


def verify(directory: Path | None = None, key: bytes | None = None) -> Verification:
    """Check every file's chain and MACs and the head; stop at the first bad line.

    Holds the writers' lock when it can, so a concurrent append is never seen half done.
    """
    directory = directory or store.log_dir()
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):
            stack.enter_context(store.locked(directory))
        return _verify(directory, key)


def _verify(directory: Path, key: bytes | None) -> Verification:
    files = store.log_files(directory)
    result = Verification(files=[str(p) for p in files])
    if key is None:
        if not files:
            return result
        key = chain.load_key(create=False)
    seq, prev = 0, chain.GENESIS
    last_file, last_line = str(directory / store.LOG_NAME), 0
    for path in files:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {path}: {exc.strerror}") from None
        with fh:
            lines = fh.read().splitlines(keepends=True)
            lineno = 0
            for lineno, raw in enumerate(lines, start=1):
                problem, rec = _check_line(raw, key, seq, prev, lines[lineno:])
                if problem:
                    result.problem = Problem(str(path), lineno, problem)
                    return result
                seq, prev = rec["seq"], rec["hash"]
                result.records += 1
        last_file, last_line = str(path), lineno
    result.last_seq = seq
    head = store.read_head(key)
    if head is None:
        if seq:
            result.problem = Problem(
                last_file,
                last_line + 1,
                f"{store.HEAD_NAME} is missing or does not verify, so lines cut from the end "
                "cannot be ruled out",
            )
    elif head.seq > seq:
        n = head.seq - seq
        result.problem = Problem(
            last_file,
            last_line + 1,
            f"the log ends at record #{seq} but record #{head.seq} was written: "
            f"{n} record(s) cut from the end",
        )
    elif head.seq < seq or (seq and head.hash != prev):
        result.problem = Problem(
            last_file,
            last_line,
            f"{store.HEAD_NAME} names record #{head.seq} but the log goes on to #{seq}: "
            "a writer was interrupted, or the log or its head was replaced",
        )
    return result
