"""The README is a contract: its Quick start, its configuration example and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

from paneseal.providers import registry
from paneseal.settings import load_settings
from pshelp import Home

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    block = re.search(r"```sh\n(.*?)```", _section("Quick start"), re.S)
    assert block
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_configuration_example_is_valid(home: Home, tmp_path: Path) -> None:
    block = re.search(r"```toml\n(.*?)```", _section("Configuration"), re.S)
    assert block
    # the files the example names, as a user would have them
    (home.config / "paneseal").mkdir(parents=True, mode=0o700)
    for name in ("vault-secret-id", "vault-ca.pem"):
        (home.config / "paneseal" / name).write_text("synthetic\n", encoding="utf-8")
        (home.config / "paneseal" / name).chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(block.group(1), encoding="utf-8")
    settings = load_settings(path)
    assert settings.audit == "required"
    for scheme in settings.providers:
        # each provider validates its settings when it is constructed
        registry.provider_class(scheme)(settings.context_for(scheme))


def test_every_documented_scheme_is_installed() -> None:
    documented = set(re.findall(r"^\| `([a-z][a-z0-9-]*)://", _section("References"), re.M))
    assert documented == set(registry.installed_schemes())
