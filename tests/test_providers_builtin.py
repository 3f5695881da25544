"""The built-in providers (store, env, exec) and the entry-point registry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from paneseal.errors import (
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
    UnknownScheme,
)
from paneseal.providers import registry
from paneseal.providers.base import Fetched, Provider, ProviderContext
from paneseal.providers.env import EnvProvider
from paneseal.providers.exec import ExecProvider
from paneseal.providers.store import StoreProvider
from paneseal.refs import SecretRef
from pshelp import Home


def ref(text: str) -> SecretRef:
    return SecretRef.parse(text)


def test_builtins_come_from_entry_points() -> None:
    for scheme, cls in (("store", StoreProvider), ("env", EnvProvider), ("exec", ExecProvider)):
        assert registry.provider_class(scheme) is cls
        assert registry.is_known(scheme)
        assert isinstance(cls(ProviderContext()), Provider)
    assert {"store", "env", "exec"} <= set(registry.installed_schemes())


def test_unknown_scheme_lists_installed() -> None:
    with pytest.raises(UnknownScheme) as info:
        registry.provider_class("nosuch")
    assert "unknown scheme 'nosuch'" in str(info.value)
    assert "store" in str(info.value) and "exec" in str(info.value)
    assert not registry.is_known("nosuch")


def test_env_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PS_TEST_VALUE", "  spaced value \n")
    monkeypatch.delenv("PS_TEST_ABSENT", raising=False)
    p = EnvProvider(ProviderContext())
    got = p.fetch_many([ref("env://PS_TEST_VALUE"), ref("env://PS_TEST_ABSENT")])
    ok = got[ref("env://PS_TEST_VALUE")]
    assert isinstance(ok, Fetched) and ok.value == "  spaced value \n"
    missing = got[ref("env://PS_TEST_ABSENT")]
    assert isinstance(missing, SecretNotFound)
    assert "export PS_TEST_ABSENT" in str(missing)
    for bad in ("env://1X", "env://A-B", "env://A?x=1"):
        with pytest.raises(ReferenceSyntaxError):
            p.validate(ref(bad))


def test_store_provider_validate() -> None:
    p = StoreProvider(ProviderContext())
    p.validate(ref("store://db.password-2"))
    for bad in ("store://a/b", "store://.x", "store://x?y=1"):
        with pytest.raises(ReferenceSyntaxError):
            p.validate(ref(bad))


def _program(home: Home, name: str, body: str) -> Path:
    d = home.config / "paneseal" / "providers"
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return path


EXEC_OUTPUTS = [
    ("one-newline-trimmed", "printf 'v\\n'", "v"),
    ("only-one-newline", "printf 'v\\n\\n'", "v\n"),
    ("spaces-kept", "printf '  v  '", "  v  "),
    ("crlf-kept", "printf 'v\\r\\n'", "v\r"),
    ("locator-is-argv1", 'printf "%s" "$1"', "prod/db password"),
    ("empty", "true", ""),
]


@pytest.mark.parametrize(
    ("body", "want"), [e[1:] for e in EXEC_OUTPUTS], ids=[e[0] for e in EXEC_OUTPUTS]
)
def test_exec_output_byte_exact(home: Home, body: str, want: str) -> None:
    _program(home, "prog", body + "\n")
    r = ref("exec://prog/prod/db password")
    got = ExecProvider(ProviderContext()).fetch_many([r])[r]
    assert isinstance(got, Fetched) and got.value == want


def test_exec_errors(home: Home) -> None:
    _program(home, "fails", 'echo "first line" >&2; echo "second" >&2; exit 3\n')
    _program(home, "silent", "exit 4\n")
    _program(home, "hangs", "exec sleep 20\n")
    _program(home, "huge", "head -c 1100000 /dev/zero | tr '\\0' a\n")
    refs = [ref(t) for t in ("exec://fails/x", "exec://silent/x", "exec://hangs/x",
                             "exec://huge/x", "exec://not-installed-anywhere/x")]  # fmt: skip
    got = ExecProvider(ProviderContext(timeout=1.0)).fetch_many(refs)
    fails, silent, hangs, huge, absent = (got[r] for r in refs)
    assert isinstance(fails, SecretNotFound) and fails.reason == "fails failed: first line"
    assert isinstance(silent, SecretNotFound) and "exit status 4" in silent.reason
    assert isinstance(hangs, ProviderTimeout)
    assert isinstance(huge, ProviderUnavailable) and "more than" in huge.reason
    assert isinstance(absent, ProviderUnavailable) and "not found" in absent.reason


def test_exec_config_dir_before_path(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    onpath = bindir / "both"
    onpath.write_text("#!/bin/sh\nprintf path\n")
    onpath.chmod(0o755)
    (bindir / "pathonly").write_text("#!/bin/sh\nprintf path-only\n")
    (bindir / "pathonly").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    _program(home, "both", "printf config\n")
    p = ExecProvider(ProviderContext())
    r1, r2 = ref("exec://both/x"), ref("exec://pathonly/x")
    got = p.fetch_many([r1, r2])
    assert getattr(got[r1], "value", None) == "config"
    assert getattr(got[r2], "value", None) == "path-only"


@pytest.mark.parametrize("bad", ["exec://prog", "exec://prog/", "exec://../x/y", "exec://.x/y"])
def test_exec_validate(bad: str) -> None:
    with pytest.raises(ReferenceSyntaxError, match="exec://PROGRAM/LOCATOR"):
        ExecProvider(ProviderContext()).validate(ref(bad))


def test_exec_batch_shares_one_deadline(home: Home) -> None:
    """Ten hanging programs, eight at a time: all are killed within the one time budget."""
    _program(home, "hangs", "exec sleep 20\n")
    refs = [ref(f"exec://hangs/{i}") for i in range(10)]
    t0 = time.monotonic()
    got = ExecProvider(ProviderContext(timeout=1.0)).fetch_many(refs)
    assert time.monotonic() - t0 < 1.5
    assert all(isinstance(got[r], ProviderTimeout) for r in refs)
