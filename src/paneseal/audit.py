"""Client-side access log (issue: audit).  Placeholder interface used by every command.

``record`` is called after resolution and before anything is delivered; if it raises
``AuditError`` the command delivers nothing (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass

from paneseal.resolve import Resolution


@dataclass(frozen=True, slots=True)
class AccessContext:
    command: str  # start | run | env | check | store get
    project: str | None = None
    session: str | None = None


def record(ctx: AccessContext, resolution: Resolution, *, delivered: bool) -> None:
    """Write one record per secret (resolved/failed, then delivered).  Not yet persistent."""
    return None
