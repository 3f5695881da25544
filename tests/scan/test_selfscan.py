"""paneseal runs its own scanner on itself: the hook files and a clean scan of its code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pshelp import run_paneseal

REPO = Path(__file__).resolve().parents[2]


def test_hook_definition_for_other_repositories() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "paneseal-scan"
    assert hook["entry"] == "paneseal scan"
    assert hook["language"] == "python"


def test_own_config_excludes_only_the_deliberate_fixtures() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    [scan] = [h for r in config["repos"] for h in r["hooks"] if h["id"] == "paneseal-scan"]
    assert "--baseline .paneseal-baseline.json" in scan["entry"]
    exclude = re.compile(scan["exclude"])
    assert exclude.search("tests/scan/test_rules.py")
    assert exclude.search("bench/scan_corpus.py")
    for path in ("src/paneseal/scan/rules.py", "src/paneseal/migrate.py", "README.md"):
        assert not exclude.search(path), path


def test_scanner_and_migrate_code_scan_clean() -> None:
    paths = [
        REPO / "src" / "paneseal" / "scan",
        REPO / "src" / "paneseal" / "migrate.py",
        REPO / "src" / "paneseal" / "cli" / "scan.py",
        REPO / "src" / "paneseal" / "cli" / "migrate.py",
        REPO / "bench" / "bench_scan.py",
        REPO / ".pre-commit-config.yaml",
    ]
    r = run_paneseal("scan", *map(str, paths))
    assert r.returncode == 0, r.stdout.decode()
