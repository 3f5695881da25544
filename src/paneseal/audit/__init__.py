"""Client-side access log: one tamper-evident JSON line per secret per event.

Every command calls ``record`` after resolution (events ``resolved`` / ``failed`` /
``denied``) and again right before delivery (``delivered``).  If a record cannot be written,
``record`` raises ``AuditError`` and the caller delivers nothing (fail closed); with
``audit = "best-effort"`` it logs a loud warning instead and returns it.  Values never
reach this module's output: a record holds the reference, never the secret.

Format, chain and MAC: ``paneseal.audit.chain``; files, lock and rotation:
``paneseal.audit.store``; reading and verification: ``paneseal.audit.read``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from paneseal.errors import AccessDenied, AuditError

if TYPE_CHECKING:  # pragma: no cover
    from paneseal.resolve import Resolution
    from paneseal.settings import Settings

log = logging.getLogger("paneseal.audit")

__all__ = ["AccessContext", "Entry", "entries_for", "record", "record_events"]


@dataclass(frozen=True, slots=True)
class AccessContext:
    command: str  # start | run | env | check | store get
    project: str | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """What happened to one secret; ``record_events`` adds who, where, when and the seal."""

    event: str  # resolved | failed | denied | delivered | revoked
    name: str
    ref: str
    provider: str
    scope: str = "command"
    window: int | None = None
    outcome: str = "ok"
    error: str | None = None
    reason: str | None = None
    duration: float = 0.0  # seconds


def entries_for(resolution: Resolution, *, delivered: bool) -> list[Entry]:
    out: list[Entry] = []
    for o in resolution.outcomes:
        req = o.request
        base: dict[str, Any] = {
            "name": req.name,
            "ref": str(req.ref),
            "provider": o.provider,
            "scope": req.scope,
            "window": req.window,
            "duration": o.duration,
        }
        if delivered:
            if o.secret is not None:
                out.append(Entry("delivered", **base))
            continue
        if o.error is None:
            out.append(Entry("resolved", **base))
            continue
        reason = getattr(o.error, "reason", None) or o.error.message
        out.append(
            Entry(
                "denied" if isinstance(o.error, AccessDenied) else "failed",
                outcome="optional, left unset" if req.optional else "failed",
                error=o.error.__class__.__name__,
                reason=reason[:300],
                **base,
            )
        )
    return out


def _tty() -> str | None:
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return None


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return os.environ.get("USER") or str(uid)


def _bodies(ctx: AccessContext, entries: Sequence[Entry]) -> list[dict[str, Any]]:
    from paneseal.audit.chain import VERSION

    uid = os.getuid()
    who = {
        "command": ctx.command,
        "uid": uid,
        "user": _user(uid),
        "host": os.uname().nodename,  # gethostname() without importing socket
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "tty": _tty(),
        "cwd": _cwd(),
    }
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bodies: list[dict[str, Any]] = []
    for e in entries:
        bodies.append(
            {
                "v": VERSION,
                "seq": 0,
                "ts": ts,
                "event": e.event,
                "name": e.name,
                "ref": e.ref,
                "provider": e.provider,
                "project": ctx.project,
                "session": ctx.session,
                "scope": e.scope,
                "window": e.window,
                "outcome": e.outcome,
                "error": e.error,
                "reason": e.reason,
                "duration_ms": round(e.duration * 1000, 3),
                **who,
            }
        )
    return bodies


def _warn(message: str) -> str:
    text = f"paneseal: warning: {message}"
    log.warning(text)
    return text


def record_events(
    ctx: AccessContext, entries: Sequence[Entry], *, settings: Settings | None = None
) -> list[str]:
    """Append one sealed record per entry.  Returns the warnings it logged (best-effort)."""
    if settings is None:
        from paneseal.settings import load_settings

        settings = load_settings()
    if settings.audit == "off" or not entries:
        return []
    from paneseal.audit import store

    bodies = _bodies(ctx, entries)
    warnings: list[str] = []
    try:
        # records that precede a delivery are made durable before it; the others ride on
        # the next sync (halves the cost of a run: one fdatasync instead of two)
        sync = any(e.event in ("delivered", "revoked") for e in entries)
        store.append(bodies, max_bytes=settings.audit_max_bytes, sync=sync)
    except AuditError as exc:
        if settings.audit != "best-effort":
            raise
        warnings.append(_warn(f'access NOT recorded (audit = "best-effort" in config.toml): {exc}'))
    if settings.audit_syslog:
        problem = store.forward_to_syslog(bodies)
        if problem:
            warnings.append(_warn(problem))
    return warnings


def record(
    ctx: AccessContext,
    resolution: Resolution,
    *,
    delivered: bool,
    settings: Settings | None = None,
) -> list[str]:
    """Record a resolution (``delivered=False``) or the delivery of its values (``True``).

    Raises ``AuditError`` when the record cannot be written and ``audit = "required"``
    (the default): the caller must then deliver nothing.
    """
    return record_events(ctx, entries_for(resolution, delivered=delivered), settings=settings)
