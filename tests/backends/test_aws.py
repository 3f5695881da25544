"""aws-sm:// and ssm:// against a real moto server (boto3 over HTTP, nothing mocked)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from paneseal.errors import (
    AccessDenied,
    ConfigError,
    FieldNotFound,
    ProviderTimeout,
    ProviderUnavailable,
    SecretNotFound,
    TLSError,
)
from paneseal.providers.aws import ParameterStoreProvider, SecretsManagerProvider, parameter_name
from paneseal.providers.base import ProviderContext
from paneseal.refs import SecretRef
from paneseal.resolve import Request, Resolution, resolve
from pshelp import canary

if TYPE_CHECKING:
    from backends.conftest import Moto
    from pshelp import Home


def resolve_refs(
    *texts: str, settings: Mapping[str, Mapping[str, Any]] | None = None, timeout: float = 10
) -> Resolution:
    reqs = [Request(f"V{i}", SecretRef.parse(t)) for i, t in enumerate(texts)]
    cfg = settings or {}
    return resolve(reqs, lambda s: ProviderContext(settings=cfg.get(s, {}), timeout=timeout))


def values(res: Resolution) -> list[str | None]:
    return [o.secret.reveal() if o.secret else None for o in res.outcomes]


def test_json_secret_fields_and_whole_value(moto: Moto) -> None:
    pw = canary()
    doc = {"username": "app", "password": pw, "port": 5432}
    moto.client("secretsmanager").create_secret(Name="app/db", SecretString=json.dumps(doc))
    res = resolve_refs("aws-sm://app/db#password", "aws-sm://app/db#username", "aws-sm://app/db")
    assert values(res)[:2] == [pw, "app"]
    assert json.loads(values(res)[2] or "") == doc


def test_fields_of_one_secret_cost_one_request(moto: Moto) -> None:
    moto.client("secretsmanager").create_secret(Name="one", SecretString='{"a": "1", "b": "2"}')
    before = moto.requests()
    res = resolve_refs("aws-sm://one#a", "aws-sm://one#b")
    assert values(res) == ["1", "2"]
    assert moto.requests() - before == 1


@pytest.mark.parametrize(
    ("raw", "option", "expected"),
    [
        (b"plain-bytes\x01\x02", "", "plain-bytes\x01\x02"),
        (b"\xff\xfe-not-utf8", "", b"\xff\xfe-not-utf8".decode("utf-8", "surrogateescape")),
        (b"\x00\x01binary", "?encoding=base64", base64.b64encode(b"\x00\x01binary").decode()),
    ],
    ids=["utf8", "not-utf8-roundtrips", "base64"],
)
def test_binary_secret(moto: Moto, raw: bytes, option: str, expected: str) -> None:
    moto.client("secretsmanager").create_secret(Name="bin", SecretBinary=raw)
    res = resolve_refs(f"aws-sm://bin{option}")
    assert values(res) == [expected]


def test_binary_secret_with_nul_needs_base64(moto: Moto) -> None:
    moto.client("secretsmanager").create_secret(Name="nul", SecretBinary=b"a\x00b")
    res = resolve_refs("aws-sm://nul")
    (failure,) = res.failures
    assert "NUL" in str(failure.error)
    assert "base64" in str(failure.error)


def test_version_stage_and_version_id(moto: Moto) -> None:
    sm = moto.client("secretsmanager")
    old, new = canary("OLD"), canary("NEW")
    first = sm.create_secret(Name="rot", SecretString=old)
    sm.put_secret_value(SecretId="rot", SecretString=new, VersionStages=["AWSPENDING"])
    res = resolve_refs(
        "aws-sm://rot",
        "aws-sm://rot?version-stage=AWSPENDING",
        "aws-sm://rot?version-stage=AWSCURRENT",
        f"aws-sm://rot?version-id={first['VersionId']}",
    )
    assert values(res) == [old, new, old, old]


def test_ssm_securestring_string_and_version(moto: Moto) -> None:
    ssm = moto.client("ssm")
    v1, v2 = canary("V1"), canary("V2")
    ssm.put_parameter(Name="/app/db/password", Value=v1, Type="SecureString")
    ssm.put_parameter(Name="/app/db/password", Value=v2, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/app/db/host", Value="db.internal", Type="String")
    ssm.put_parameter(Name="flat", Value="top-level", Type="String")
    res = resolve_refs(
        "ssm://app/db/password",
        "ssm://app/db/host",
        "ssm:///app/db/password",
        "ssm://app/db/password?version=1",
        "ssm://flat",
    )
    assert values(res) == [v2, "db.internal", v2, v1, "top-level"]


def test_batching_counts_requests(moto: Moto) -> None:
    """25 secrets -> 2 BatchGetSecretValue calls; 12 parameters -> 2 GetParameters calls."""
    sm, ssm = moto.client("secretsmanager"), moto.client("ssm")
    expected: dict[str, str] = {}
    for i in range(25):
        expected[f"aws-sm://batch/s{i}"] = v = canary()
        sm.create_secret(Name=f"batch/s{i}", SecretString=v)
    for i in range(12):
        expected[f"ssm://batch/p{i}"] = v = canary()
        ssm.put_parameter(Name=f"/batch/p{i}", Value=v, Type="SecureString")
    before = moto.requests()
    res = resolve_refs(*expected)
    assert values(res) == list(expected.values())
    assert moto.requests() - before == 4


def test_not_found_is_per_secret_within_one_batch(moto: Moto) -> None:
    moto.client("secretsmanager").create_secret(Name="here", SecretString="yes")
    moto.client("ssm").put_parameter(Name="here", Value="yes", Type="String")
    before = moto.requests()
    res = resolve_refs("aws-sm://here", "aws-sm://missing", "ssm://here", "ssm://not/there")
    assert values(res) == ["yes", None, "yes", None]
    assert moto.requests() - before == 2
    errors = {str(f.ref): f.error for f in res.failures}
    assert isinstance(errors["aws-sm://missing"], SecretNotFound)
    assert "ResourceNotFoundException" in str(errors["aws-sm://missing"])
    assert isinstance(errors["ssm://not/there"], SecretNotFound)
    assert "/not/there" in str(errors["ssm://not/there"])


def test_missing_field_names_fields_not_values(moto: Moto) -> None:
    pw = canary()
    moto.client("secretsmanager").create_secret(Name="f", SecretString=json.dumps({"pw": pw}))
    res = resolve_refs("aws-sm://f#nope")
    (failure,) = res.failures
    assert isinstance(failure.error, FieldNotFound)
    assert "pw" in failure.line()
    assert pw not in failure.line()


def test_region_from_reference_and_settings(moto: Moto) -> None:
    moto.client("secretsmanager", region="eu-west-1").create_secret(Name="eu", SecretString="EU")
    assert values(resolve_refs("aws-sm://eu?region=eu-west-1")) == ["EU"]
    settings = {"aws-sm": {"region": "eu-west-1"}}
    assert values(resolve_refs("aws-sm://eu", settings=settings)) == ["EU"]
    res = resolve_refs("aws-sm://eu")  # us-east-1 from AWS_DEFAULT_REGION: not there
    assert isinstance(res.failures[0].error, SecretNotFound)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"regoin": "x"}, "unknown setting 'regoin'"),
        ({"region": 3}, "region has the wrong type"),
        ({"max_workers": 0}, "max_workers must be between 1 and 64"),
        ({"endpoint_url": "localhost"}, "endpoint_url must start with"),
    ],
    ids=["typo", "type", "range", "url"],
)
def test_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        SecretsManagerProvider(ProviderContext(settings=settings))
    assert "providers.aws-sm." in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("aws-sm://x?versionstage=A", "unknown option"),
        ("aws-sm://x?version-stage=A&version-id=B", "not both"),
        ("aws-sm://x?encoding=hex", "encoding must be"),
        ("ssm://x?version=latest", "version must be a number"),
        ("ssm://a//b", "empty path segment"),
    ],
    ids=["unknown-option", "stage-and-id", "encoding", "ssm-version", "ssm-empty-segment"],
)
def test_bad_references_are_rejected_before_fetching(text: str, problem: str) -> None:
    res = resolve_refs(text)
    (failure,) = res.failures
    assert problem in str(failure.error)


@pytest.mark.parametrize(
    ("locator", "name"),
    [("app/db/pw", "/app/db/pw"), ("/app/x", "/app/x"), ("flat", "flat")],
    ids=["hierarchy", "explicit-slash", "flat"],
)
def test_parameter_names(locator: str, name: str) -> None:
    assert parameter_name(SecretRef("ssm", locator)) == name


def test_nothing_listening_is_unavailable(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    res = resolve_refs("aws-sm://a", "ssm://b", settings={"aws-sm": {"max_attempts": 1}})
    assert [type(f.error) for f in res.failures] == [ProviderUnavailable, ProviderUnavailable]
    assert "cannot reach the AWS endpoint" in str(res.failures[0].error)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


def test_black_holed_endpoint_times_out(
    moto: Moto, black_hole: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{black_hole}")
    res = resolve_refs("aws-sm://a", settings={"aws-sm": {"max_attempts": 1}}, timeout=3)
    (failure,) = res.failures
    assert isinstance(failure.error, ProviderTimeout)


def test_no_credentials_is_a_clear_error(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    res = resolve_refs("aws-sm://a", "ssm://b")
    for failure in res.failures:
        assert isinstance(failure.error, ProviderUnavailable)
        assert "no AWS credentials" in str(failure.error)
        assert "AWS_PROFILE" in (failure.error.hint or "")


@pytest.fixture
def moto_iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Moto, dict[str, str]]]:
    """A moto server that enforces IAM after its set-up calls, plus a user who may read SSM
    parameters but not Secrets Manager."""
    from backends.conftest import _stop, start_moto

    tmp = Path(tempfile.mkdtemp(prefix="mi", dir="/tmp"))
    setup_calls = 5
    server = start_moto(tmp / "moto.log", {"INITIAL_NO_AUTH_ACTION_COUNT": str(setup_calls)})
    try:
        iam = server.client("iam")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="reader", PolicyName="ssm-only", PolicyDocument=json.dumps(policy)
        )
        server.client("secretsmanager").create_secret(Name="guarded", SecretString="x")
        server.client("ssm").put_parameter(Name="open", Value="ok", Type="String")
        env = server.env()
        env["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
        env["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield server, env
    finally:
        _stop(server.proc)


def test_access_denied(home: object, moto_iam: tuple[Moto, dict[str, str]]) -> None:
    res = resolve_refs("aws-sm://guarded", "ssm://open")
    assert values(res) == [None, "ok"]
    (failure,) = res.failures
    assert isinstance(failure.error, AccessDenied)
    assert "AccessDenied" in str(failure.error)
    assert "IAM policy" in failure.line()


def test_wrong_secret_key_is_access_denied(
    home: object, moto_iam: tuple[Moto, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secrets.token_hex(20))
    res = resolve_refs("ssm://open")
    (failure,) = res.failures
    assert isinstance(failure.error, AccessDenied)


def test_provider_can_be_reused_and_closed(moto: Moto) -> None:
    moto.client("ssm").put_parameter(Name="r", Value="1", Type="String")
    provider = ParameterStoreProvider(ProviderContext())
    ref = SecretRef.parse("ssm://r")
    first, second = provider.fetch_many([ref]), provider.fetch_many([ref])
    assert repr(first[ref]) == repr(second[ref]) == "Fetched(<hidden>)"
    provider.close()


def test_sdk_is_not_imported_by_the_module() -> None:
    code = (
        "import sys, paneseal.providers.aws, paneseal.providers.keyring;"
        "print('boto3' in sys.modules or 'botocore' in sys.modules or 'keyring' in sys.modules)"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=dict(os.environ)
    )
    assert out.stdout.strip() == b"False"


def test_untrusted_certificate_is_a_tls_error(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto over HTTPS with a self-signed certificate: verification fails, clearly."""
    from backends.conftest import _stop, start_moto

    tmp = Path(tempfile.mkdtemp(prefix="mt", dir="/tmp"))
    server = start_moto(tmp / "moto.log", args=("--ssl",))
    try:
        assert server.url.startswith("https://")
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        res = resolve_refs("aws-sm://a", "ssm://b", settings={"aws-sm": {"max_attempts": 1}})
        for failure in res.failures:
            assert isinstance(failure.error, TLSError), failure.line()
            assert "TLS verification failed" in str(failure.error)
            assert "AWS_CA_BUNDLE" in str(failure.error)
    finally:
        _stop(server.proc)


def test_aws_profile_is_honoured(moto: Moto, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and region from a named profile (AWS_PROFILE), none in the environment."""
    creds = home.root / ".aws"
    creds.mkdir()
    (creds / "credentials").write_text(
        "[reader]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    (creds / "config").write_text("[profile reader]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(creds / "config"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var)
    value = canary()
    moto.client("secretsmanager", region="eu-central-1").create_secret(
        Name="prof", SecretString=value
    )
    monkeypatch.setenv("AWS_PROFILE", "reader")
    assert values(resolve_refs("aws-sm://prof")) == [value]
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    (failure,) = resolve_refs("aws-sm://prof").failures
    assert isinstance(failure.error, ProviderUnavailable)
    assert "AWS profile not found" in str(failure.error)
    monkeypatch.delenv("AWS_PROFILE")
    assert values(resolve_refs("aws-sm://prof", settings={"aws-sm": {"profile": "reader"}})) == [
        value
    ]
