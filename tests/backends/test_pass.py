"""pass:// against a real password store encrypted with a real GnuPG key."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from paneseal.errors import (
    AccessDenied,
    ConfigError,
    FieldNotFound,
    ProviderUnavailable,
    SecretNotFound,
)
from paneseal.providers.base import ProviderContext
from paneseal.providers.passstore import PassProvider, parse_entry
from paneseal.refs import SecretRef
from paneseal.resolve import Request, Resolution, resolve
from pshelp import canary

if TYPE_CHECKING:
    from backends.conftest import PassStore


def resolve_refs(*texts: str, settings: Mapping[str, Any] | None = None) -> Resolution:
    reqs = [Request(f"V{i}", SecretRef.parse(t)) for i, t in enumerate(texts)]
    return resolve(reqs, lambda s: ProviderContext(settings=settings or {}))


def values(res: Resolution) -> list[str | None]:
    return [o.secret.reveal() if o.secret else None for o in res.outcomes]


def test_first_line_and_fields(pass_store: PassStore) -> None:
    pw = canary()
    pass_store.put("web/github", f"{pw}\nuser: alice\nurl: https://github.com\notp: \n")
    res = resolve_refs(
        "pass://web/github",
        "pass://web/github#user",
        "pass://web/github#url",
        "pass://web/github#password",
    )
    assert values(res) == [pw, "alice", "https://github.com", pw]


def test_same_as_pass_show(pass_store: PassStore) -> None:
    """The value is what ``pass show`` prints first, from the very same store."""
    pw = canary()
    pass_store.put("db/prod", f"{pw}\n")
    shown = subprocess.run(
        ["pass", "show", "db/prod"], capture_output=True, check=True, env=dict(os.environ)
    )
    assert shown.stdout.decode().splitlines()[0] == pw
    assert values(resolve_refs("pass://db/prod")) == [pw]


def test_value_keeps_spaces_and_unicode(pass_store: PassStore) -> None:
    value = "  päss wörd ✓  "
    pass_store.put("odd", value)  # no trailing newline at all
    assert values(resolve_refs("pass://odd")) == [value]


def test_missing_entry_and_missing_field(pass_store: PassStore) -> None:
    pass_store.put("a", "x\nuser: u\n")
    res = resolve_refs("pass://a", "pass://nope/entry", "pass://a#email")
    assert values(res) == ["x", None, None]
    errors = [f.error for f in res.failures]
    assert isinstance(errors[0], SecretNotFound)
    assert "nope/entry is not in the password store" in str(errors[0])
    assert "pass ls" in str(errors[0])
    assert isinstance(errors[1], FieldNotFound)
    assert "password, user" in str(errors[1])


@pytest.mark.parametrize(
    "text",
    ["pass://../etc/passwd", "pass://a/../../x", "pass://a/./b", "pass://a//b", "pass://a?x=1"],
    ids=["dotdot", "dotdot-inner", "dot", "empty-segment", "options"],
)
def test_path_escapes_are_rejected(pass_store: PassStore, text: str) -> None:
    (failure,) = resolve_refs(text).failures
    assert "pass://" in str(failure.error)
    assert failure.error.__class__.__name__ == "ReferenceSyntaxError"


GPG_BARRIER = """
import os, sys, time
log = os.environ["GPG_BARRIER_LOG"]
with open(log, "a") as fh:
    fh.write("start\\n")
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    with open(log) as fh:
        started = fh.read().count("start")
    if started >= 4:
        break
    time.sleep(0.01)
with open(log, "a") as fh:
    fh.write(f"saw {started}\\n")
os.execvp("gpg", ["gpg", *sys.argv[1:]])
"""


def test_entries_are_decrypted_concurrently(
    pass_store: PassStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gpg wrapper that waits until four decryptions have started: run one at a time,
    each would wait out its 5 s and see only itself."""
    import sys

    names = [f"many/e{i}" for i in range(8)]
    expected = [canary() for _ in names]
    for name, value in zip(names, expected, strict=True):
        pass_store.put(name, value + "\n")
    wrapper = pass_store.dir.parent / "gpg-barrier"
    wrapper.write_text(f"#!{sys.executable}\n{GPG_BARRIER}")
    wrapper.chmod(0o755)
    log = pass_store.dir.parent / "barrier.log"
    monkeypatch.setenv("GPG_BARRIER_LOG", str(log))
    res = resolve_refs(*("pass://" + n for n in names), settings={"gpg": str(wrapper)})
    assert values(res) == expected
    seen = [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("saw")]
    assert len(seen) == 8
    assert max(seen) >= 4, seen


def test_store_dir_and_gnupghome_from_settings(
    pass_store: PassStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pass_store.put("cfg", "from-settings")
    monkeypatch.delenv("PASSWORD_STORE_DIR")
    monkeypatch.delenv("GNUPGHOME")
    settings = {"store_dir": str(pass_store.dir), "gnupghome": pass_store.gpg.home}
    assert values(resolve_refs("pass://cfg", settings=settings)) == ["from-settings"]


def test_default_store_is_home_password_store(
    pass_store: PassStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture's store is ~/.password-store, pass's own default."""
    pass_store.put("dflt", "home-store")
    monkeypatch.delenv("PASSWORD_STORE_DIR")
    assert values(resolve_refs("pass://dflt")) == ["home-store"]


def test_entry_for_another_key_is_access_denied(
    pass_store: PassStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pass_store.put("theirs", "x")
    other = tempfile.mkdtemp(prefix="g2", dir="/tmp")
    os.chmod(other, 0o700)
    monkeypatch.setenv("GNUPGHOME", other)
    try:
        (failure,) = resolve_refs("pass://theirs").failures
        assert isinstance(failure.error, AccessDenied)
        assert "No secret key" in str(failure.error)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=False, env=dict(os.environ))


def test_missing_store_and_missing_gpg(pass_store: PassStore) -> None:
    res = resolve_refs("pass://x", settings={"store_dir": "/nonexistent/store"})
    assert isinstance(res.failures[0].error, ProviderUnavailable)
    assert "no password store at /nonexistent/store" in str(res.failures[0].error)
    res = resolve_refs("pass://x", settings={"gpg": "gpg-not-installed"})
    assert "install GnuPG" in str(res.failures[0].error)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"store": "/x"}, "unknown setting 'store'"),
        ({"store_dir": "relative/dir"}, "must be an absolute path"),
        ({"max_workers": 100}, "between 1 and 64"),
        ({"gpg": ["gpg2"]}, "wrong type"),
    ],
    ids=["typo", "relative", "range", "type"],
)
def test_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PassProvider(ProviderContext(settings=settings))


@pytest.mark.parametrize(
    ("text", "value", "fields"),
    [
        ("pw", "pw", {"password": "pw"}),
        ("pw\n", "pw", {"password": "pw"}),
        ("pw\nuser: a\nuser: b\n", "pw", {"user": "a", "password": "pw"}),
        ("pw\npassword: other\n", "pw", {"password": "other"}),
        ("pw\n  indented: no\nnote line\nk:v", "pw", {"k": "v", "password": "pw"}),
        ("", "", {"password": ""}),
    ],
    ids=["bare", "newline", "first-wins", "own-password-field", "skips-junk", "empty"],
)
def test_parse_entry(text: str, value: str, fields: dict[str, str]) -> None:
    got = parse_entry(text)
    assert got.value == value
    assert dict(got.fields or {}) == fields
