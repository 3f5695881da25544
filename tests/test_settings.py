"""config.toml and the project's paneseal: block: validation and merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from paneseal.config import parse_project
from paneseal.errors import ConfigError
from paneseal.providers.base import DEFAULT_TIMEOUT
from paneseal.settings import Settings, load_settings
from pshelp import Home


def write(home: Home, text: str) -> Path:
    path = home.config / "paneseal" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_file(home: Home) -> None:
    s = load_settings()
    assert s == Settings()
    assert s.context_for("vault").timeout == DEFAULT_TIMEOUT


def test_full_file_and_merge(home: Home) -> None:
    write(
        home,
        'timeout = 4\naudit = "best-effort"\n[providers.vault]\ntimeout = 2\naddr = "a"\n'
        "[providers.exec]\nfoo = 1\n",
    )
    s = load_settings()
    assert s.timeout == 4 and s.audit == "best-effort"
    assert s.context_for("exec").timeout == 4  # inherits the global default
    ctx = s.context_for("vault", {"vault": {"timeout": 1, "extra": True}})
    assert ctx.timeout == 1 and ctx.settings == {"timeout": 1, "addr": "a", "extra": True}


BAD = [
    ("syntax", "timeout = \n", "not valid TOML", ""),
    ("unknown-key", "colour = 1\n", "unknown setting 'colour'", "colour"),
    ("negative-timeout", "timeout = -1\n", "positive number", "timeout"),
    ("bool-timeout", "timeout = true\n", "positive number", "timeout"),
    ("audit-mode", 'audit = "maybe"\n', "audit must be one of", "audit"),
    (
        "provider-timeout",
        '[providers.vault]\ntimeout = "x"\n',
        "positive",
        "providers.vault.timeout",
    ),
    ("provider-not-table", "providers = 3\n", "table of provider settings", "providers"),
    ("max-bytes", "audit_max_bytes = 10\n", ">= 4096", "audit_max_bytes"),
]


@pytest.mark.parametrize(("text", "words", "key"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_settings(home: Home, text: str, words: str, key: str) -> None:
    path = write(home, text)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert words in str(info.value)
    assert str(info.value).startswith(str(path))
    assert info.value.location is not None and info.value.location.key_path == key


def test_project_overrides(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("name: p\npaneseal:\n  providers:\n    exec: {timeout: 2}\n")
    assert parse_project(path).provider_overrides == {"exec": {"timeout": 2}}
    path.write_text("name: p\npaneseal:\n  other: 1\n")
    with pytest.raises(ConfigError, match="may only hold providers"):
        parse_project(path)
    path.write_text("name: p\npaneseal:\n  providers:\n    x: {}\n    exec:\n      timeout: 0\n")
    with pytest.raises(ConfigError, match=r"paneseal\.providers\.exec\.timeout") as info:
        parse_project(path)
    assert str(info.value).startswith(f"{path}:6: paneseal.providers.exec.timeout: ")
    path.write_text("name: p\npaneseal:\n  providers:\n    exec: 3\n")
    with pytest.raises(ConfigError, match="expected a table of settings") as info:
        parse_project(path)
    assert str(info.value).startswith(f"{path}:4: paneseal.providers.exec: ")


def test_paths_follow_xdg_at_call_time(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    from paneseal import paths

    assert paths.identity_path() == home.config / "paneseal" / "identity.txt"
    assert paths.store_dir() == home.data / "paneseal" / "store"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the spec says: ignore it
    assert paths.store_dir() == home.root / ".local/share/paneseal/store"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home.root / "elsewhere"))
    assert paths.settings_path() == home.root / "elsewhere/paneseal/config.toml"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home.root))
    assert paths.runtime_dir() == home.root / "paneseal"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home.root / "missing"))
    assert paths.runtime_dir().parent == Path("/tmp")
