"""Baselines: findings a team has accepted, stored as salted hashes and never as values.

Each entry is (file, rule, fingerprint) where the fingerprint is an HMAC of the rule and the
value under the baseline's own random salt.  No line numbers: moving a line, or adding one
above it, does not churn the baseline (detect-secrets #665).  Files are stored relative to
the baseline's directory, so the same baseline works from any checkout path.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from paneseal.errors import ConfigError, Location
from paneseal.scan.scanner import Finding
from paneseal.store import atomic_write

VERSION = 1


@dataclass
class Baseline:
    path: Path
    salt: bytes
    entries: set[tuple[str, str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path, *, create: bool = False) -> Baseline:
        """Read ``path``; with ``create`` a missing file gives an empty baseline, new salt."""
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if create:
                return cls(path, secrets.token_bytes(16))
            raise ConfigError(
                "baseline file does not exist",
                Location(str(path)),
                hint="create it with: paneseal scan --baseline FILE --update-baseline",
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot read baseline: {exc.strerror}", Location(str(path))
            ) from None
        try:
            data = json.loads(raw)
            if data.get("version") != VERSION:
                raise ValueError("version")
            salt = bytes.fromhex(data["salt"])
            entries = {(str(e["file"]), str(e["rule"]), str(e["hash"])) for e in data["findings"]}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(
                "not a paneseal baseline (version 1 JSON with salt and findings)",
                Location(str(path)),
                hint="recreate it with: paneseal scan --baseline FILE --update-baseline",
            ) from None
        return cls(path, salt, entries)

    def key(self, finding: Finding) -> tuple[str, str, str]:
        return (self.relative(finding.file), finding.rule, finding.fingerprint)

    def relative(self, file: str) -> str:
        base = self.path.resolve().parent
        try:
            return Path(os.path.abspath(file)).relative_to(base).as_posix()
        except ValueError:
            return Path(os.path.abspath(file)).as_posix()

    def __contains__(self, finding: object) -> bool:
        return isinstance(finding, Finding) and self.key(finding) in self.entries

    def replace(self, findings: Iterable[Finding]) -> None:
        self.entries = {self.key(f) for f in findings}

    def save(self) -> None:
        data = {
            "version": VERSION,
            "generator": "paneseal scan",
            "note": "salted HMAC-SHA256 fingerprints only; no secret values are stored here",
            "salt": self.salt.hex(),
            "findings": [{"file": f, "rule": r, "hash": h} for f, r, h in sorted(self.entries)],
        }
        text = json.dumps(data, indent=2) + "\n"
        mode = 0o644
        if self.path.exists():
            mode = self.path.stat().st_mode & 0o777
        atomic_write(self.path, text.encode(), mode)
