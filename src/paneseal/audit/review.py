"""The periodic review a security team asks for, built from the access log and the projects.

For each project and secret: when it was last delivered, how often in the window, recent
failures, and whether it is declared but unused; for each project: how many values it still
hard-codes (from the scanner, when installed).  Never reads a secret value: the log holds
references only, and scanner findings are reduced to counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paneseal.errors import PanesealError

AD_HOC = "(no project)"


@dataclass
class SecretUse:
    project: str | None  # project file (real path) or None for ad hoc --secret use
    name: str
    ref: str
    declared: bool = False
    last_delivered: str | None = None
    delivered: int = 0  # within the window
    delivered_total: int = 0
    failures: int = 0  # within the window
    last_failure: dict[str, Any] | None = None
    status: str = ""


@dataclass
class ProjectReview:
    file: str
    name: str
    declared: int = 0
    problem: str | None = None
    hardcoded: int | None = None  # None: the scanner could not say
    scanner: str = "not available"
    rules: list[str] = field(default_factory=list)  # rule names of the findings, no values


@dataclass
class Review:
    days: int
    since: str
    generated: str
    log_records: int = 0
    log_verified: bool | None = None
    log_problem: str | None = None
    secrets: list[SecretUse] = field(default_factory=list)
    projects: list[ProjectReview] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "since": self.since,
            "generated": self.generated,
            "log": {
                "records": self.log_records,
                "verified": self.log_verified,
                "problem": self.log_problem,
            },
            "secrets": [asdict(s) for s in self.secrets],
            "projects": [asdict(p) for p in self.projects],
        }


def _real(path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    return os.path.realpath(path)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Scanner:
    """Adapter to ``paneseal.scan``: counts findings and names their rules, never values.

    Imported lazily and guarded: a missing or half-written scanner gives "not available"
    for that column, and the rest of the review stands.
    """

    def __init__(self) -> None:
        self.fn: Any = None
        self.why = "not available"
        # only counts leave this class, so a throw-away salt avoids writing the scanner's
        # persistent salt file as a side effect of a review
        self.salt = os.urandom(16)
        try:
            import importlib

            mod = importlib.import_module("paneseal.scan")
            fn = getattr(mod, "scan_file", None)
            if callable(fn):
                self.fn = fn
                self.why = "ok"
        except ImportError:
            pass
        except Exception as exc:  # a half-written scanner must not break the review
            self.why = f"not available ({exc.__class__.__name__})"

    def count(self, path: Path) -> tuple[int | None, str, list[str]]:
        if self.fn is None:
            return None, self.why, []
        try:
            findings = list(self.fn(path, self.salt))
        except Exception as exc:  # the review still reports everything else
            return None, f"error ({exc.__class__.__name__})", []
        rules = sorted({str(getattr(f, "rule", "?")) for f in findings})
        return len(findings), "ok", rules


def _status(use: SecretUse, days: int) -> str:
    if use.failures and use.delivered == 0:
        return f"failing ({use.failures} failure{'s' if use.failures != 1 else ''})"
    if use.declared and use.delivered == 0:
        return f"unused for {days} days"
    if not use.declared:
        return "not declared in any project" if use.project else "ad hoc (--secret)"
    if use.failures:
        return f"ok, {use.failures} recent failure{'s' if use.failures != 1 else ''}"
    return "ok"


def build(
    days: int,
    records: Iterable[Mapping[str, Any]],
    project_files: Iterable[Path],
    *,
    now: datetime | None = None,
    scan: bool = True,
) -> Review:
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    review = Review(days, _iso(since), _iso(now))
    uses: dict[tuple[str | None, str], SecretUse] = {}
    scanner = _Scanner() if scan else None

    from paneseal.config import parse_project

    for path in project_files:
        pr = ProjectReview(str(path), path.stem)
        try:
            project = parse_project(path)
        except PanesealError as exc:
            # never the message: a malformed "reference" may be a pasted value
            where = getattr(exc, "location", None)
            pr.problem = f"{exc.__class__.__name__} at {where or path}"
        else:
            key_path = _real(path)
            for decl in project.all_secrets():
                use = uses.setdefault(
                    (key_path, decl.name), SecretUse(key_path, decl.name, str(decl.ref))
                )
                use.declared = True
                pr.declared += 1
        if scanner is not None:
            pr.hardcoded, pr.scanner, pr.rules = scanner.count(path)
        review.projects.append(pr)

    from paneseal.audit.read import parse_ts

    for rec in records:
        review.log_records += 1
        event = rec.get("event")
        if event not in ("delivered", "failed", "denied"):
            continue
        where = _real(rec.get("project"))
        name = str(rec.get("name", "?"))
        use = uses.setdefault((where, name), SecretUse(where, name, str(rec.get("ref", "?"))))
        ts = parse_ts(str(rec.get("ts", "")))
        recent = ts is not None and ts >= since
        if event == "delivered":
            use.delivered_total += 1
            if recent:
                use.delivered += 1
            if use.last_delivered is None or str(rec["ts"]) > use.last_delivered:
                use.last_delivered = str(rec["ts"])
        elif recent:
            use.failures += 1
            use.last_failure = {
                "ts": rec.get("ts"),
                "event": event,
                "error": rec.get("error"),
                "reason": rec.get("reason"),
                "command": rec.get("command"),
            }
    for use in uses.values():
        use.status = _status(use, days)
    review.secrets = sorted(uses.values(), key=lambda u: (u.project or "~", u.name))
    return review
