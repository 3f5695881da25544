"""``$XDG_CONFIG_HOME/paneseal/config.toml``: provider settings, timeouts, audit mode.

::

    timeout = 10                 # default per-provider deadline, seconds
    audit = "required"           # or "best-effort" (loudly downgrades fail-closed auditing)

    [providers.vault]
    addresses = ["https://vault-a:8200", "https://vault-b:8200"]
    auth = "token"
    timeout = 5

A project may override a provider's settings in a top-level ``paneseal:`` block
(``paneseal: {providers: {vault: {timeout: 3}}}``); tmuxinator ignores that key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paneseal import paths
from paneseal.errors import ConfigError, Location
from paneseal.providers.base import DEFAULT_TIMEOUT, ProviderContext

AUDIT_MODES = ("required", "best-effort", "off")
_TOP_KEYS = {"timeout", "audit", "providers", "audit_syslog", "audit_max_bytes"}


@dataclass(frozen=True)
class Settings:
    timeout: float = DEFAULT_TIMEOUT
    audit: str = "required"
    audit_syslog: bool = False
    audit_max_bytes: int = 10 * 1024 * 1024
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = ""

    def context_for(
        self, scheme: str, overrides: Mapping[str, Mapping[str, Any]] | None = None
    ) -> ProviderContext:
        merged: dict[str, Any] = dict(self.providers.get(scheme, {}))
        if overrides and scheme in overrides:
            merged.update(overrides[scheme])
        timeout = merged.get("timeout", self.timeout)
        return ProviderContext(settings=merged, timeout=float(timeout))


def _positive_number(value: Any, where: Location) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"expected a positive number of seconds, got {value!r}", where)
    return float(value)


def validate_provider_tables(
    providers: Any, file: str, prefix: str = "providers"
) -> dict[str, dict[str, Any]]:
    if not isinstance(providers, Mapping):
        raise ConfigError("expected a table of provider settings", Location(file, None, prefix))
    out: dict[str, dict[str, Any]] = {}
    for scheme, table in providers.items():
        where = Location(file, None, f"{prefix}.{scheme}")
        if not isinstance(table, Mapping):
            raise ConfigError("expected a table of settings", where)
        if "timeout" in table:
            _positive_number(table["timeout"], Location(file, None, f"{prefix}.{scheme}.timeout"))
        out[str(scheme)] = dict(table)
    return out


def load_settings(path: Path | None = None) -> Settings:
    path = path or paths.settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"cannot read settings: {exc.strerror}", Location(str(path))) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"not valid TOML: {exc}", Location(str(path)), hint="fix the syntax"
        ) from None
    file = str(path)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(
            f"unknown setting {key!r}",
            Location(file, None, key),
            hint="known settings: " + ", ".join(sorted(_TOP_KEYS)),
        )
    timeout = DEFAULT_TIMEOUT
    if "timeout" in data:
        timeout = _positive_number(data["timeout"], Location(file, None, "timeout"))
    audit = data.get("audit", "required")
    if audit not in AUDIT_MODES:
        raise ConfigError(
            f"audit must be one of {', '.join(AUDIT_MODES)}, got {audit!r}",
            Location(file, None, "audit"),
        )
    syslog = data.get("audit_syslog", False)
    if not isinstance(syslog, bool):
        raise ConfigError("expected true or false", Location(file, None, "audit_syslog"))
    max_bytes = data.get("audit_max_bytes", Settings.audit_max_bytes)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 4096:
        raise ConfigError(
            "expected a whole number of bytes >= 4096", Location(file, None, "audit_max_bytes")
        )
    providers = validate_provider_tables(data.get("providers", {}), file)
    return Settings(timeout, audit, syslog, max_bytes, providers, file)
