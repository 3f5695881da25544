"""op:// and bw:// through stand-in ``op``/``bw`` executables (see fakes/): the real CLIs
cannot run on the test machines.  The stand-ins follow the tools' documented output and
exit codes, and record every argv they are given."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from paneseal.errors import (
    AccessDenied,
    ConfigError,
    ProviderTimeout,
    ProviderUnavailable,
    SecretNotFound,
)
from paneseal.providers.base import ProviderContext
from paneseal.providers.bitwarden import BitwardenProvider, item_fields
from paneseal.providers.onepassword import OnePasswordProvider
from paneseal.refs import SecretRef
from paneseal.resolve import Request, Resolution, resolve
from pshelp import canary

if TYPE_CHECKING:
    from backends.conftest import FakeCli


def resolve_refs(
    *texts: str, settings: Mapping[str, Any] | None = None, timeout: float = 10
) -> Resolution:
    reqs = [Request(f"V{i}", SecretRef.parse(t)) for i, t in enumerate(texts)]
    return resolve(reqs, lambda s: ProviderContext(settings=settings or {}, timeout=timeout))


def values(res: Resolution) -> list[str | None]:
    return [o.secret.reveal() if o.secret else None for o in res.outcomes]


# --------------------------------------------------------------------------- 1Password


@pytest.fixture
def op_data(fake_cli: FakeCli, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    token = "ops_" + canary("TOKEN")
    data: dict[str, Any] = {
        "token": token,
        "vaults": {
            "Dev": {
                "db": {"password": canary(), "username": "app", "conn/host": "db.internal"},
                "api": {"credential": canary()},
            }
        },
    }
    fake_cli.write({"op": data})
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", token)
    return data


def test_op_read_values_and_sections(fake_cli: FakeCli, op_data: dict[str, Any]) -> None:
    db = op_data["vaults"]["Dev"]["db"]
    res = resolve_refs("op://Dev/db/password", "op://Dev/db/username", "op://Dev/db/conn/host")
    assert values(res) == [db["password"], "app", "db.internal"]
    calls = fake_cli.argv_log()
    assert sorted(c[-1] for c in calls) == sorted(
        ["op://Dev/db/password", "op://Dev/db/username", "op://Dev/db/conn/host"]
    )
    assert all(c[:3] == ["read", "--no-newline", "--"] for c in calls)


def test_op_token_and_value_never_in_argv(fake_cli: FakeCli, op_data: dict[str, Any]) -> None:
    res = resolve_refs("op://Dev/api/credential")
    value = op_data["vaults"]["Dev"]["api"]["credential"]
    assert values(res) == [value]
    argv = json.dumps(fake_cli.argv_log())
    assert "op://Dev/api/credential" in argv  # the log does record argv
    assert op_data["token"] not in argv
    assert value not in argv


@pytest.mark.parametrize(
    ("ref", "kind", "text"),
    [
        ("op://Nope/db/password", SecretNotFound, "isn't a vault"),
        ("op://Dev/nope/password", SecretNotFound, "isn't an item"),
        ("op://Dev/db/nope", SecretNotFound, "isn't a field"),
    ],
    ids=["vault", "item", "field"],
)
def test_op_not_found(
    fake_cli: FakeCli, op_data: dict[str, Any], ref: str, kind: type, text: str
) -> None:
    (failure,) = resolve_refs(ref).failures
    assert isinstance(failure.error, kind)
    assert text in str(failure.error)
    assert "[ERROR]" not in str(failure.error)


@pytest.mark.parametrize("token", [None, "ops_wrong"], ids=["signed-out", "bad-token"])
def test_op_not_signed_in(
    fake_cli: FakeCli, op_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    if token is None:
        monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN")
    else:
        monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", token)
    (failure,) = resolve_refs("op://Dev/db/password").failures
    assert isinstance(failure.error, AccessDenied)
    assert "OP_SERVICE_ACCOUNT_TOKEN" in str(failure.error)
    assert op_data["token"] not in failure.line()


def test_op_slow_cli_is_killed_at_the_deadline(fake_cli: FakeCli, op_data: dict[str, Any]) -> None:
    fake_cli.write({"op": {**op_data, "delay": 30}})
    (failure,) = resolve_refs("op://Dev/db/password", timeout=1.5).failures
    assert isinstance(failure.error, ProviderTimeout)


def test_op_missing_binary(fake_cli: FakeCli) -> None:
    (failure,) = resolve_refs("op://a/b/c", settings={"binary": "op-not-here"}).failures
    assert isinstance(failure.error, ProviderUnavailable)
    assert "developer.1password.com" in str(failure.error)


@pytest.mark.parametrize(
    "text",
    ["op://Dev/db", "op://a/b/c/d/e", "op://a//c", "op://a/b/c?field=x"],
    ids=["short", "long", "empty", "option"],
)
def test_op_bad_references(text: str) -> None:
    (failure,) = resolve_refs(text).failures
    assert failure.error.__class__.__name__ == "ReferenceSyntaxError"


def test_op_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'acount'"):
        OnePasswordProvider(ProviderContext(settings={"acount": "x"}))
    with pytest.raises(ConfigError, match="max_workers must be between"):
        OnePasswordProvider(ProviderContext(settings={"max_workers": 0}))


# --------------------------------------------------------------------------- Bitwarden


@pytest.fixture
def bw_data(fake_cli: FakeCli, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    session = canary("SESSION")
    items = [
        {
            "id": "2b1e3f4a-0000-4000-8000-000000000001",
            "type": 1,
            "name": "GitHub",
            "notes": "recovery codes elsewhere",
            "login": {
                "username": "octo",
                "password": canary(),
                "totp": None,
                "uris": [{"match": None, "uri": "https://github.com"}],
            },
            "fields": [
                {"name": "api_token", "value": canary(), "type": 1, "linkedId": None},
                {"name": "username", "value": "shadowed", "type": 0, "linkedId": None},
            ],
        },
        {
            "id": "2b1e3f4a-0000-4000-8000-000000000002",
            "type": 2,
            "name": "deploy key",
            "notes": canary("NOTE"),
            "secureNote": {"type": 0},
        },
        {"id": "id-3", "type": 1, "name": "GitLab", "login": {"password": "x"}},
    ]
    data = {"session": session, "logged_in": True, "items": items}
    fake_cli.write({"bw": data})
    monkeypatch.setenv("BW_SESSION", session)
    return data


def test_bw_password_fields_and_notes(fake_cli: FakeCli, bw_data: dict[str, Any]) -> None:
    gh, note = bw_data["items"][0], bw_data["items"][1]
    res = resolve_refs(
        "bw://GitHub",
        "bw://GitHub#username",
        "bw://GitHub#api_token",
        "bw://GitHub#uri",
        "bw://deploy key",
        f"bw://{gh['id']}#password",
    )
    assert values(res) == [
        gh["login"]["password"],
        "octo",
        gh["fields"][0]["value"],
        "https://github.com",
        note["notes"],
        gh["login"]["password"],
    ]
    calls = fake_cli.argv_log()
    assert len(calls) == 3  # one `bw get item` per item, whatever the fields taken
    assert all(c[:2] == ["get", "item"] and c[-1] == "--nointeraction" for c in calls)
    argv = json.dumps(calls)
    assert bw_data["session"] not in argv
    assert gh["login"]["password"] not in argv


@pytest.mark.parametrize(
    ("ref", "kind", "text"),
    [
        ("bw://nothing-like-this", SecretNotFound, "no Bitwarden item"),
        ("bw://Git", SecretNotFound, "matches several Bitwarden items"),
        ("bw://GitHub#nope", None, "no field 'nope'"),
    ],
    ids=["not-found", "ambiguous", "field"],
)
def test_bw_errors(
    fake_cli: FakeCli, bw_data: dict[str, Any], ref: str, kind: type | None, text: str
) -> None:
    (failure,) = resolve_refs(ref).failures
    if kind is not None:
        assert isinstance(failure.error, kind)
    assert text in str(failure.error)
    assert "2b1e3f4a" not in str(failure.error)  # ids listed after the first line are dropped


@pytest.mark.parametrize(
    ("session", "logged_in", "text"),
    [(None, True, "Vault is locked"), ("wrong", True, "Vault is locked"), (None, False, "logged")],
    ids=["no-session", "bad-session", "logged-out"],
)
def test_bw_locked(
    fake_cli: FakeCli,
    bw_data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    session: str | None,
    logged_in: bool,
    text: str,
) -> None:
    fake_cli.write({"bw": {**bw_data, "logged_in": logged_in}})
    if session is None:
        monkeypatch.delenv("BW_SESSION")
    else:
        monkeypatch.setenv("BW_SESSION", session)
    (failure,) = resolve_refs("bw://GitHub").failures
    assert isinstance(failure.error, AccessDenied)
    assert text in str(failure.error)
    assert "BW_SESSION=$(bw unlock --raw)" in str(failure.error)


def test_bw_item_fields_table() -> None:
    login = item_fields({"login": {"username": "u", "password": "p"}, "notes": "n"})
    assert login.value == "p"
    assert dict(login.fields or {}) == {"username": "u", "password": "p", "notes": "n"}
    note = item_fields({"notes": "only notes", "secureNote": {}})
    assert note.value == "only notes"
    card = item_fields({"card": {}, "fields": [{"name": "pin", "value": "1234"}]})
    assert card.value is None
    assert dict(card.fields or {}) == {"pin": "1234"}


def test_bw_rejects_option_like_items_and_options() -> None:
    for text in ("bw://-rf", "bw://x?y=1"):
        (failure,) = resolve_refs(text).failures
        assert failure.error.__class__.__name__ == "ReferenceSyntaxError"
    with pytest.raises(ConfigError, match="unknown setting 'session'"):
        BitwardenProvider(ProviderContext(settings={"session": "x"}))
