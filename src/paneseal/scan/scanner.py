"""Raw-text scanning: every rule over the whole text, then each hit mapped to its place.

Scanning the text rather than the parsed YAML is what finds secrets in pane lists, block
scalars, comments and ERB, all of which a YAML-only scanner misses.  A finding never holds
the value: only its span, a masked form and a salted fingerprint, so a list of findings
can be printed, logged or written to a baseline without leaking anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from paneseal.scan.positions import Positions
from paneseal.scan.rules import (
    LOW,
    RULES,
    Rule,
    is_dev_default,
    is_placeholder,
    name_is_secretish,
)

ALLOW_MARK = "paneseal:allow"
_NAME_GROUPS = ("name", "name2", "name3")
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"}
)
MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Finding:
    """One hard-coded secret.  ``start``/``end`` are character offsets of the value."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    rule: str
    severity: str
    key_path: str | None
    masked: str
    fingerprint: str
    start: int
    end: int
    name: str | None = None  # the variable the value was assigned to, if the text says
    in_erb: bool = False


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    priority: int
    rule: Rule
    severity: str
    name: str | None


def mask(value: str) -> str:
    """A short prefix and the length: enough to recognise, never enough to use."""
    shown = min(4, len(value) // 4)
    return f"{value[:shown]}***({len(value)} chars)"


def fingerprint(salt: bytes, rule: str, value: str) -> str:
    """Independent of line, column and file: moving a line does not change it."""
    msg = f"{rule}\0{value}".encode("utf-8", "surrogateescape")
    return hmac.new(salt, msg, hashlib.sha256).hexdigest()[:32]


def _value_group(rule: Rule, match: re.Match[str]) -> str | None:
    for group in rule.value_groups:
        if match.start(group) != -1:
            return group
    return None


def _implied_name(match: re.Match[str]) -> str | None:
    """A variable name the text implies: ``--db-password`` -> DB_PASSWORD, a postgres:// URL
    -> POSTGRES_PASSWORD.  ``migrate`` uses it; None lets it fall back to the rule's name."""
    groups = match.re.groupindex
    if "flag" in groups and match.group("flag"):
        return re.sub(r"[^A-Za-z0-9]+", "_", match.group("flag")).upper()
    if "scheme" in groups and match.group("scheme"):
        scheme = re.sub(r"[^A-Za-z0-9]+", "_", match.group("scheme").split("+")[0]).upper()
        return f"{scheme}_PASSWORD"
    return None


def _regions(text: str, lower: str, keywords: Sequence[str]) -> list[tuple[int, int]]:
    """The lines holding a keyword, merged into (start, end) ranges: the prefilter.

    Whole-file keyword tests pass almost every real project (its template comments say
    "Pass command line options", "token", "key" ...); testing per line lets each regular
    expression run over a few lines instead of the whole file.
    """
    starts: set[int] = set()
    for kw in keywords:
        i = lower.find(kw)
        while i != -1:
            start = lower.rfind("\n", 0, i) + 1
            end = lower.find("\n", i)
            end = len(lower) if end == -1 else end
            starts.add(start)
            i = lower.find(kw, end)
    regions: list[tuple[int, int]] = []
    for start in sorted(starts):
        end = lower.find("\n", start)
        end = len(lower) if end == -1 else end
        if regions and regions[-1][1] + 1 >= start:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


def _hits(text: str, rules: Sequence[Rule]) -> list[_Hit]:
    lower = text.lower()
    per_line = len(lower) == len(text)  # lower() may change the length of rare characters
    hits: list[_Hit] = []
    for priority, rule in enumerate(rules):
        if not rule.keywords:
            regions = [(0, len(text))]
        elif rule.multiline or not per_line:
            if not any(k in lower for k in rule.keywords):
                continue
            regions = [(0, len(text))]
        else:
            regions = _regions(text, lower, rule.keywords)
        for start, end in regions:
            for m in rule.regex.finditer(text, start, end):
                hit = _hit(rule, m, priority)
                if hit is not None:
                    hits.append(hit)
    return hits


def _hit(rule: Rule, m: re.Match[str], priority: int) -> _Hit | None:
    group = _value_group(rule, m)
    if group is None:
        return None
    value = m.group(group)
    end = m.end(group)
    if value.endswith("\\") and m.string[end : end + 1] in ("'", '"'):
        value, end = value[:-1], end - 1  # \" ends a shell string in a YAML "..." scalar
    if not value:
        return None
    name = next((m.group(g) for g in _NAME_GROUPS if g in m.re.groupindex and m.group(g)), None)
    if name is not None and (not name_is_secretish(name) or value.lower() == name.lower()):
        return None  # token=token is code passing a variable along, not a literal
    if name is None:
        name = _implied_name(m)
    severity = rule.severity
    if rule.placeholders:
        if is_placeholder(value):
            return None
        if is_dev_default(value):
            severity = LOW
    if rule.check is not None and not rule.check(value):
        return None
    return _Hit(m.start(group), end, priority, rule, severity, name)


def _no_overlaps(hits: list[_Hit]) -> list[_Hit]:
    """Where rules overlap, the earlier rule in the table wins."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (h.priority, h.start)):
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    kept.sort(key=lambda h: h.start)
    return kept


def scan_text(
    text: str,
    file: str,
    salt: bytes,
    rules: Sequence[Rule] = RULES,
    *,
    honour_allow: bool = True,
    positions: Positions | None = None,
) -> list[Finding]:
    """Every finding in ``text``; ``positions`` may be passed in when the caller has one."""
    hits = _no_overlaps(_hits(text, rules))
    if not hits:
        return []
    pos = positions if positions is not None else Positions(text)
    findings: list[Finding] = []
    for hit in hits:
        line, col = pos.line_col(hit.start)
        if honour_allow and ALLOW_MARK in pos.line_text(line):
            continue
        end_line, end_col = pos.line_col(hit.end)
        value = text[hit.start : hit.end]
        findings.append(
            Finding(
                file=file,
                line=line,
                column=col,
                end_line=end_line,
                end_column=end_col,
                rule=hit.rule.id,
                severity=hit.severity,
                key_path=pos.key_path(hit.start),
                masked=mask(value),
                fingerprint=fingerprint(salt, hit.rule.id, value),
                start=hit.start,
                end=hit.end,
                name=hit.name,
                in_erb=pos.in_erb(hit.start),
            )
        )
    return findings


def read_text(path: Path) -> str | None:
    """The file as text, or None for a binary file (NUL byte) that is not worth scanning."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def scan_file(path: Path, salt: bytes, display: str | None = None) -> list[Finding]:
    text = read_text(path)
    if text is None:
        return []
    return scan_text(text, display if display is not None else str(path), salt)


def walk(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to scan: each file given, and every regular file under each directory given
    (skipping VCS, cache and hidden directories, symlinks and very large files)."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for fname in sorted(files):
                    p = Path(root) / fname
                    try:
                        if p.is_symlink() or not p.is_file():
                            continue
                        if p.stat().st_size > MAX_FILE_BYTES:
                            continue
                    except OSError:
                        continue
                    yield p
        else:
            yield path
