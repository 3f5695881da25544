"""keyring:// through a real gnome-keyring on a private D-Bus session bus."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from paneseal.errors import AccessDenied, ConfigError, ProviderUnavailable, SecretNotFound
from paneseal.providers.base import ProviderContext
from paneseal.providers.keyring import KeyringProvider
from paneseal.refs import SecretRef
from paneseal.resolve import Request, Resolution, resolve
from pshelp import canary

if TYPE_CHECKING:
    from backends.conftest import KeyringBus


def resolve_refs(*texts: str, settings: Mapping[str, Any] | None = None) -> Resolution:
    reqs = [Request(f"V{i}", SecretRef.parse(t)) for i, t in enumerate(texts)]
    return resolve(reqs, lambda s: ProviderContext(settings=settings or {}, timeout=10))


def values(res: Resolution) -> list[str | None]:
    return [o.secret.reveal() if o.secret else None for o in res.outcomes]


def test_reads_what_keyring_set_stored(keyring_bus: KeyringBus) -> None:
    from keyring.backends import SecretService

    pw = canary()
    backend: Any = SecretService.Keyring()  # type: ignore[no-untyped-call]
    backend.set_password("db.example.com", "alice", pw)  # what `keyring set` does
    keyring_bus.put("api/prod", "deploy@example.com", "tok-1")
    res = resolve_refs("keyring://db.example.com/alice", "keyring://api/prod/deploy@example.com")
    assert values(res) == [pw, "tok-1"]


def test_missing_entry(keyring_bus: KeyringBus) -> None:
    (failure,) = resolve_refs("keyring://svc/nobody").failures
    assert isinstance(failure.error, SecretNotFound)
    assert "keyring set svc nobody" in str(failure.error)


def test_locked_keyring_is_a_clear_error(keyring_bus: KeyringBus) -> None:
    pw = canary()
    keyring_bus.put("locked-svc", "bob", pw)
    assert values(resolve_refs("keyring://locked-svc/bob")) == [pw]
    keyring_bus.lock()
    res = resolve_refs("keyring://locked-svc/bob")
    (failure,) = res.failures
    assert isinstance(failure.error, AccessDenied)
    assert "locked" in str(failure.error)
    assert pw not in failure.line()


def test_no_bus_is_unavailable_never_a_fallback(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a Secret Service, keyring's own chooser would pick another backend; paneseal
    reports the pinned one as unavailable instead."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    (failure,) = resolve_refs("keyring://svc/user").failures
    assert isinstance(failure.error, ProviderUnavailable)
    assert "never falls back to a plaintext keyring" in str(failure.error)


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("keyrings.alt.file.PlaintextKeyring", "refused"),
        ("null", "refused"),
        ("keyring.backends.fail.Keyring", "refused"),
        ("chainer", "refused"),
        ("gnome", "unknown keyring backend"),
        (3, "must be a string"),
    ],
    ids=["plaintext", "null", "fail", "chainer", "unknown", "type"],
)
def test_unsafe_or_unknown_backends_are_refused(backend: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        KeyringProvider(ProviderContext(settings={"backend": backend}))
    assert "providers.keyring.backend" in str(info.value)


def test_unknown_setting() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'fallback'"):
        KeyringProvider(ProviderContext(settings={"fallback": True}))


@pytest.mark.parametrize(
    "text", ["keyring://onlyservice", "keyring://svc/", "keyring://svc/u?x=1"], ids=str
)
def test_bad_references(text: str) -> None:
    (failure,) = resolve_refs(text).failures
    assert failure.error.__class__.__name__ == "ReferenceSyntaxError"
