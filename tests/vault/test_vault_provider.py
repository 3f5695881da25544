"""vault:// against a real OpenBao dev server: KV v1/v2, versions, auth methods, TLS,
namespaces and the error translation (never a value or a credential in a message)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from paneseal.errors import (
    AccessDenied,
    ConfigError,
    FieldNotFound,
    ProviderError,
    ReferenceSyntaxError,
    SecretNotFound,
    TLSError,
)
from paneseal.providers.base import ProviderContext
from paneseal.providers.vault import VaultProvider
from paneseal.refs import SecretRef
from paneseal.resolve import Request, Resolution, resolve
from pshelp import Home, canary

if TYPE_CHECKING:
    from vault.conftest import Bao


def run(
    pairs: Mapping[str, str], settings: Mapping[str, Any] | None = None, timeout: float = 5.0
) -> Resolution:
    ctx = ProviderContext(settings=dict(settings or {}), timeout=timeout)
    requests = [Request(name, SecretRef.parse(text)) for name, text in pairs.items()]
    return resolve(requests, lambda _scheme: ctx)


def values(resolution: Resolution) -> dict[str, str]:
    assert not resolution.failures, [f.line() for f in resolution.failures]
    return {k: v.reveal() for k, v in resolution.values().items()}


def only_error(resolution: Resolution) -> ProviderError:
    (failure,) = resolution.failures
    assert isinstance(failure.error, ProviderError)
    return failure.error


@pytest.fixture(params=["plain", "tls"])
def addr(
    request: pytest.FixtureRequest, home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The same server over its loopback http:// listener and over TLS with the test CA."""
    if request.param == "tls":
        monkeypatch.setenv("VAULT_CACERT", bao.ca_cert)
        return bao.tls_address
    return bao.address


@pytest.fixture
def root_env(addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Bao:
    monkeypatch.setenv("VAULT_ADDR", addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    return bao


def test_kv2_several_fields_from_one_path_cost_one_read(root_env: Bao) -> None:
    bao = root_env
    before = bao.audit_count("secret/data/multi")
    got = values(
        run(
            {
                "DB_USER": "vault://secret/multi#user",
                "DB_PASSWORD": "vault://secret/multi#password",
                "DB_HOST": "vault://secret/multi#host",
            }
        )
    )
    assert got == {
        "DB_USER": bao.values["user"],
        "DB_PASSWORD": bao.values["password"],
        "DB_HOST": bao.values["host"],
    }
    assert bao.audit_count("secret/data/multi") - before == 1


def test_provider_counts_its_own_requests(root_env: Bao) -> None:
    provider = VaultProvider(ProviderContext(timeout=5))
    try:
        refs = [SecretRef.parse("vault://secret/multi"), SecretRef.parse("vault://kv1/app")]
        out = provider.fetch_many(refs)
    finally:
        provider.close()
    assert all(not isinstance(v, ProviderError) for v in out.values())
    # two mount look-ups (secret/, kv1/) and one read per path
    assert provider.requests_sent == 4


def test_kv1_mount_is_detected(root_env: Bao) -> None:
    got = values(run({"KEY": "vault://kv1/app#api_key", "N": "vault://kv1/app#n"}))
    assert got == {"KEY": root_env.values["kv1"], "N": "42"}


def test_specific_versions_of_kv2(root_env: Bao) -> None:
    got = values(
        run(
            {
                "OLD": "vault://secret/versioned?version=1#value",
                "NEW": "vault://secret/versioned?version=2#value",
                "LATEST": "vault://secret/versioned#value",
            }
        )
    )
    assert got == {
        "OLD": root_env.values["v1"],
        "NEW": root_env.values["v2"],
        "LATEST": root_env.values["v2"],
    }


@pytest.mark.parametrize(
    ("ref", "error", "words"),
    [
        ("vault://secret/nothing-here#x", SecretNotFound, "nothing found reading secret/data"),
        ("vault://secret/versioned?version=9#value", SecretNotFound, "version 9"),
        ("vault://secret/deleted?version=1#value", SecretNotFound, "version 1 was deleted"),
        ("vault://kv1/app?version=1#api_key", SecretNotFound, "KV version 1"),
        ("vault://nomount/app#x", AccessDenied, "no mount 'nomount/'"),
        ("vault://secret/multi#nofield", FieldNotFound, "no field 'nofield'"),
        ("vault://secret/multi", FieldNotFound, "several fields"),
    ],
    ids=[
        "missing-path",
        "missing-version",
        "deleted-version",
        "v1-version",
        "no-mount",
        "field",
        "no-field",
    ],
)
def test_clear_not_found_errors(
    root_env: Bao, ref: str, error: type[ProviderError], words: str
) -> None:
    err = only_error(run({"X": ref}))
    assert isinstance(err, error)
    text = str(err)
    assert words in text
    assert text.startswith(ref)  # names the reference
    assert err.provider == "vault"
    for secret in (*root_env.values.values(), root_env.root_token):
        assert secret not in text


def test_403_is_access_denied_without_the_token(
    home: Home, addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_ADDR", addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.reader_token)
    res = run({"OK": "vault://secret/multi#user", "NO": "vault://secret/other#value"})
    assert res.values()["OK"].reveal() == bao.values["user"]  # the token works where allowed
    err = only_error(res)
    assert isinstance(err, AccessDenied)
    assert "permission denied reading secret/data/other" in str(err)
    assert str(err).startswith("vault://secret/other#value")
    assert bao.reader_token not in str(err) and bao.reader_token not in repr(err)


def test_bad_token_is_access_denied(
    home: Home, addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = canary("BADTOKEN")
    monkeypatch.setenv("VAULT_ADDR", addr)
    monkeypatch.setenv("VAULT_TOKEN", token)
    err = only_error(run({"X": "vault://secret/multi#user"}))
    assert isinstance(err, AccessDenied)
    assert token not in str(err)


def test_no_token_anywhere_says_how_to_log_in(
    home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    err = only_error(run({"X": "vault://secret/multi#user"}))
    assert isinstance(err, AccessDenied)
    assert "no Vault token" in str(err) and "bao login" in str(err)


def test_token_from_vault_token_file(
    home: Home, addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_ADDR", addr)
    (home.root / ".vault-token").write_text(bao.reader_token + "\n")
    assert values(run({"X": "vault://secret/multi#user"})) == {"X": bao.values["user"]}


def test_bao_variables_are_honoured(home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAO_ADDR", bao.address)
    monkeypatch.setenv("BAO_TOKEN", bao.reader_token)
    assert values(run({"X": "vault://secret/multi#user"})) == {"X": bao.values["user"]}


def test_approle_login(home: Home, addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_SECRET_ID", bao.secret_id)
    settings = {"addresses": [addr], "auth": "approle", "role_id": bao.role_id}
    assert values(run({"X": "vault://secret/multi#password"}, settings)) == {
        "X": bao.values["password"]
    }


def test_approle_secret_id_from_a_file(home: Home, addr: str, bao: Bao) -> None:
    sid = home.root / "sid"
    sid.write_text(bao.secret_id + "\n")
    sid.chmod(0o600)
    settings = {
        "addresses": [addr],
        "auth": "approle",
        "role_id": bao.role_id,
        "secret_id_file": str(sid),
    }
    assert values(run({"X": "vault://kv1/app#api_key"}, settings)) == {"X": bao.values["kv1"]}


def test_approle_wrong_secret_id_never_echoed(
    home: Home, addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = canary("SECRETID")
    monkeypatch.setenv("VAULT_SECRET_ID", wrong)
    settings = {"addresses": [addr], "auth": "approle", "role_id": bao.role_id}
    err = only_error(run({"X": "vault://secret/multi#user"}, settings))
    assert isinstance(err, AccessDenied)
    assert "login with AppRole (auth/approle) refused" in str(err)
    assert wrong not in str(err) and wrong not in repr(err)


def test_userpass_login_password_from_env(
    home: Home, addr: str, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_PASSWORD", bao.password)
    settings = {"addresses": [addr], "auth": "userpass", "username": bao.username}
    assert values(run({"X": "vault://secret/multi#host"}, settings)) == {"X": bao.values["host"]}


def test_userpass_wrong_password(home: Home, addr: str, bao: Bao, tmp_path: Path) -> None:
    wrong = canary("WRONGPW")
    pw = home.root / "pw"
    pw.write_text(wrong)
    settings = {
        "addresses": [addr],
        "auth": "userpass",
        "username": bao.username,
        "password_file": str(pw),
    }
    err = only_error(run({"X": "vault://secret/multi#host"}, settings))
    assert isinstance(err, AccessDenied)
    assert "login with userpass as 'alice'" in str(err) and wrong not in str(err)


def test_namespace_from_environment(home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    err = only_error(run({"X": "vault://kvt/app#value"}))  # not in the root namespace
    assert isinstance(err, AccessDenied)
    monkeypatch.setenv("VAULT_NAMESPACE", "team")
    assert values(run({"X": "vault://kvt/app#value"})) == {"X": bao.values["ns"]}


def test_namespace_from_settings(root_env: Bao) -> None:
    got = values(run({"X": "vault://kvt/app#value"}, {"namespace": "team"}))
    assert got == {"X": root_env.values["ns"]}


# ----------------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_env(home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Bao:
    """A token but no CA setting at all: each TLS test says which CA (if any) to trust."""
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    return bao


def test_tls_with_the_test_ca(tls_env: Bao) -> None:
    settings = {"addresses": [tls_env.tls_address], "ca_cert": tls_env.ca_cert}
    got = values(run({"X": "vault://secret/tls#value"}, settings))
    assert got == {"X": tls_env.values["tls"]}


def test_tls_ca_from_vault_cacert(tls_env: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", tls_env.tls_address)
    monkeypatch.setenv("VAULT_CACERT", tls_env.ca_cert)
    assert values(run({"X": "vault://secret/tls#value"})) == {"X": tls_env.values["tls"]}


def test_tls_ca_directory_from_vault_capath(
    tls_env: Bao, monkeypatch: pytest.MonkeyPatch, home: Home
) -> None:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to hash the CA directory (c_rehash layout)")
    capath = home.root / "cas"
    capath.mkdir()
    shutil.copy(tls_env.ca_cert, capath / "ca.pem")
    subprocess.run(["openssl", "rehash", str(capath)], check=True, capture_output=True)
    monkeypatch.setenv("VAULT_ADDR", tls_env.tls_address)
    monkeypatch.setenv("VAULT_CAPATH", str(capath))
    assert values(run({"X": "vault://secret/tls#value"})) == {"X": tls_env.values["tls"]}


@pytest.mark.parametrize("which", ["wrong-ca", "system-ca"], ids=["wrong-ca", "system-ca"])
def test_tls_refused_without_the_right_ca(tls_env: Bao, home: Home, which: str) -> None:
    from vault.openbao import make_ca

    settings: dict[str, Any] = {"addresses": [tls_env.tls_address]}
    if which == "wrong-ca":
        _, _, other = make_ca(str(home.root), "another CA")
        settings["ca_cert"] = other
    err = only_error(run({"X": "vault://secret/tls#value"}, settings))
    assert isinstance(err, TLSError)
    assert "certificate not trusted: " in str(err)
    assert tls_env.tls_address in str(err)
    assert tls_env.values["tls"] not in str(err) and tls_env.root_token not in str(err)


def test_vault_skip_verify_is_ignored(tls_env: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_SKIP_VERIFY", "1")
    err = only_error(run({"X": "vault://secret/tls#value"}, {"addresses": [tls_env.tls_address]}))
    assert isinstance(err, TLSError)


# ------------------------------------------------------------------- settings and syntax


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"addresses": ["http://vault.example.com:8200"]}, "refusing plain http://"),
        ({"addresses": ["http://10.1.2.3:8200"]}, "refusing plain http://"),
        ({"addresses": ["https://u:p@vault.example.com"]}, "must not carry credentials"),
        ({"addresses": ["unix:///run/vault.sock"]}, "expected https://HOST"),
        ({"addresses": []}, "non-empty list"),
        ({"addresses": ["https://a:1", "https://a:1"]}, "listed twice"),
        ({"addresses": 7}, "expected list or str"),
        ({"auth": "kerberos"}, "unknown auth method"),
        ({"auth": "approle"}, "needs a role_id"),
        ({"auth": "approle", "role_id": "r"}, "needs a secret_id"),
        ({"auth": "userpass"}, "needs a username"),
        ({"auth": "userpass", "username": "u"}, "needs a password"),
        ({"retries": 99}, "from 0 to 20"),
        ({"retries": True}, "expected int"),
        ({"request_timeout": -1}, "positive number"),
        ({"ca_cert": "/nonexistent/ca.pem"}, "does not exist"),
        ({"token": "s.abc"}, "unknown setting 'token'"),
    ],
    ids=[
        "http-remote-name",
        "http-remote-ip",
        "userinfo",
        "unix-socket",
        "empty-list",
        "duplicate",
        "not-a-list",
        "bad-auth",
        "approle-no-role",
        "approle-no-secret",
        "userpass-no-user",
        "userpass-no-password",
        "retries-range",
        "retries-bool",
        "request-timeout",
        "missing-ca",
        "inline-token",
    ],
)
def test_settings_are_validated(home: Home, settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        VaultProvider(ProviderContext(settings=settings))
    assert words in str(info.value)
    assert "providers.vault" in str(info.value)


def test_http_refused_for_a_remote_vault_addr(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://vault.example.com:8200")
    with pytest.raises(ConfigError) as info:
        VaultProvider(ProviderContext())
    assert "$VAULT_ADDR" in str(info.value) and "https://" in str(info.value)


@pytest.mark.parametrize(
    "address",
    ["http://127.0.0.1:8200", "http://127.8.9.10:1", "http://[::1]:8200", "http://localhost:8200"],
    ids=["v4", "v4-net", "v6", "localhost"],
)
def test_http_allowed_to_loopback(home: Home, address: str) -> None:
    VaultProvider(ProviderContext(settings={"addresses": [address]})).close()


@pytest.mark.parametrize(
    "text",
    [
        "vault://secret",
        "vault://secret/",
        "vault://secret//x",
        "vault://secret/../sys/x",
        "vault://secret/x?version=0",
        "vault://secret/x?version=latest",
        "vault://secret/x?region=eu",
    ],
    ids=[
        "no-path",
        "trailing-slash",
        "empty-segment",
        "dotdot",
        "version-0",
        "version-word",
        "unknown-option",
    ],
)
def test_reference_syntax(home: Home, text: str) -> None:
    provider = VaultProvider(ProviderContext())
    with pytest.raises(ReferenceSyntaxError):
        provider.validate(SecretRef.parse(text))


def test_settings_are_read_at_call_time(
    home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module is imported before the variables are set: nothing is read at import."""
    import paneseal.providers.vault  # noqa: F401 - already imported; proves order

    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.reader_token)
    assert values(run({"X": "vault://secret/multi#user"})) == {"X": bao.values["user"]}


def test_hvac_is_imported_only_when_fetching() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from paneseal.providers.base import ProviderContext\n"
        "from paneseal.providers.vault import VaultProvider\n"
        "VaultProvider(ProviderContext(settings={'addresses': ['https://127.0.0.1:8200']}))\n"
        "print('hvac' in sys.modules, 'requests' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout.decode().split() == ["False", "False"]


def test_https_to_a_plain_listener_is_a_clear_tls_error(tls_env: Bao) -> None:
    address = tls_env.address.replace("http://", "https://")
    err = only_error(run({"X": "vault://secret/tls#value"}, {"addresses": [address]}))
    assert isinstance(err, TLSError)
    assert f"{address}: does not speak TLS on that port" in str(err)


def test_missing_hvac_says_which_extra_to_install(home: Home) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['hvac'] = None  # as if the extra were not installed\n"
        "from paneseal.providers.base import ProviderContext\n"
        "from paneseal.providers.vault import VaultProvider\n"
        "from paneseal.refs import SecretRef\n"
        "ref = SecretRef.parse('vault://secret/x')\n"
        "print(VaultProvider(ProviderContext()).fetch_many([ref])[ref])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert "pip install 'paneseal[vault]'" in out.stdout.decode()
