"""Output formats: text for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs.

None of them ever holds a value: each finding carries the masked form and the salted
fingerprint only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from paneseal import __version__
from paneseal.scan.rules import HIGH, LOW, MEDIUM, RULES
from paneseal.scan.scanner import Finding

FORMATS = ("text", "json", "sarif")
_SARIF_LEVEL = {HIGH: "error", MEDIUM: "warning", LOW: "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _where(f: Finding) -> str:
    return f" at {f.key_path}" if f.key_path else ""


def text(findings: Sequence[Finding], files: int, baselined: int = 0) -> str:
    lines = [
        f"{f.file}:{f.line}:{f.column}: {f.severity}: {f.rule}: {f.masked}{_where(f)}"
        for f in findings
    ]
    counts = Counter(f.severity for f in findings)
    if findings:
        detail = ", ".join(f"{counts[s]} {s}" for s in (HIGH, MEDIUM, LOW) if counts[s])
        summary = f"{len(findings)} hard-coded secret(s) in {files} file(s) scanned ({detail})"
    else:
        summary = f"no hard-coded secrets in {files} file(s) scanned"
    if baselined:
        summary += f"; {baselined} accepted by the baseline"
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _as_dict(f: Finding) -> dict[str, object]:
    return {
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "rule": f.rule,
        "severity": f.severity,
        "key_path": f.key_path,
        "masked": f.masked,
        "fingerprint": f.fingerprint,
    }


def json_report(findings: Sequence[Finding], files: int, baselined: int = 0) -> str:
    data = {
        "version": 1,
        "files_scanned": files,
        "baselined": baselined,
        "findings": [_as_dict(f) for f in findings],
    }
    return json.dumps(data, indent=2) + "\n"


def _uri(file: str) -> str:
    p = Path(file)
    if p.is_absolute():
        return p.as_uri()
    return p.as_posix()


def sarif(findings: Sequence[Finding], files: int, baselined: int = 0) -> str:
    index = {r.id: i for i, r in enumerate(RULES)}
    rules = [
        {
            "id": r.id,
            "name": r.id.title().replace("-", ""),
            "shortDescription": {"text": r.description},
            "fullDescription": {
                "text": f"{r.description}. Move the value into a secret store and reference it "
                "from the project's secrets: block (paneseal migrate)."
            },
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            "properties": {"severity": r.severity, "tags": ["security", "secret"]},
        }
        for r in RULES
    ]
    results = []
    for f in findings:
        location: dict[str, object] = {
            "physicalLocation": {
                "artifactLocation": {"uri": _uri(f.file)},
                "region": {
                    "startLine": f.line,
                    "startColumn": f.column,
                    "endLine": f.end_line,
                    "endColumn": f.end_column,
                },
            }
        }
        if f.key_path:
            location["logicalLocations"] = [{"fullyQualifiedName": f.key_path, "kind": "member"}]
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _SARIF_LEVEL[f.severity],
                "message": {
                    "text": f"hard-coded secret ({f.rule}, {f.severity}): {f.masked}{_where(f)}"
                },
                "locations": [location],
                "partialFingerprints": {"panesealSecret/v1": f.fingerprint},
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "paneseal",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": {"filesScanned": files, "baselined": baselined},
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


RENDERERS = {"text": text, "json": json_report, "sarif": sarif}
