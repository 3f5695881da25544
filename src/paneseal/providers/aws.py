"""``aws-sm://NAME[?region=..&version-stage=..|version-id=..][#field]`` and ``ssm://PARAMETER``.

Both go through boto3, imported only when a reference of these schemes is resolved (it
costs 0.3-0.6 s, which a pane that needs no AWS secret must not pay).  boto3 finds
credentials, ``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION`` and
``AWS_ENDPOINT_URL`` the way every AWS tool does; config.toml may pin ``region``,
``profile`` and ``endpoint_url``.

Requests are batched because a project often names ten secrets of one account and each
HTTPS round trip costs tens of milliseconds: ``BatchGetSecretValue`` takes 20 ids a call,
``GetParameters`` 10 names.  Only references that ask for a version (which the batch call
cannot do) are read one by one.  The batch answers name their failures per id, so one
missing secret is reported as missing while the others are still delivered.

botocore's DEBUG log prints whole response bodies, i.e. secret values; the provider keeps
botocore's loggers at INFO or above whatever ``-vv`` asks for.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from paneseal.errors import (
    AccessDenied,
    ConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
    TLSError,
)
from paneseal.providers import support
from paneseal.providers.base import Fetched, ProviderContext, missing_extra
from paneseal.refs import SecretRef

SM_BATCH = 20  # BatchGetSecretValue: at most 20 ids per call
SSM_BATCH = 10  # GetParameters: at most 10 names per call
_QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")

_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "region": str,
    "profile": str,
    "endpoint_url": str,
    "timeout": (int, float),
    "max_attempts": int,
    "max_workers": int,
}

_NOT_FOUND = {
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "InvalidKeyId",
}
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
    "DecryptionFailure",
    "KMSAccessDeniedException",
    "KMSInvalidStateException",
}
_DENIED_HINT = "check the credentials boto3 uses (aws sts get-caller-identity) and their IAM policy"


def check_settings(scheme: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``[providers.<scheme>]``: unknown keys and wrong types are config errors."""
    out = support.check_settings(scheme, settings, _SETTINGS)
    for key, value in out.items():
        where = support.setting_location(scheme, key)
        if isinstance(value, int) and key != "timeout" and not 1 <= value <= 64:
            raise ConfigError(f"{key} must be between 1 and 64", where)
        if isinstance(value, str) and key == "endpoint_url" and "://" not in value:
            raise ConfigError("endpoint_url must start with https:// or http://", where)
    return out


def _quiet_botocore() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def translate(exc: BaseException, scheme: str) -> ProviderError:
    """Every boto3/botocore failure becomes one of the project's errors, here and only here.

    AWS error messages name resources and principals, never values, so their text is kept.
    """
    from botocore import exceptions as bx

    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code, message = _code_and_message(str(err.get("Code", "")), str(err.get("Message", "")))
        reason = f"{code}: {message}" if message else code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _client_error(code, reason, int(status or 0), scheme)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return ProviderUnavailable(
            "no AWS credentials found",
            provider=scheme,
            hint="set AWS_PROFILE (after 'aws sso login') or the AWS_ACCESS_KEY_ID variables",
        )
    if isinstance(exc, bx.ProfileNotFound):
        return ProviderUnavailable(
            f"AWS profile not found ({exc})",
            provider=scheme,
            hint="check AWS_PROFILE or [providers] profile against ~/.aws/config",
        )
    if isinstance(exc, bx.NoRegionError):
        return ProviderUnavailable(
            "no AWS region configured",
            provider=scheme,
            hint="set AWS_REGION, region in config.toml, or add ?region=... to the reference",
        )
    if isinstance(exc, bx.SSLError):
        return TLSError(
            f"TLS verification failed for the AWS endpoint ({_first_line(exc)})",
            provider=scheme,
            hint="check AWS_CA_BUNDLE and the endpoint's certificate",
        )
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return ProviderTimeout(
            f"the AWS endpoint did not answer in time ({_first_line(exc)})",
            provider=scheme,
            hint="check the network, or raise the timeout in config.toml",
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionError):
        return ProviderUnavailable(
            f"cannot reach the AWS endpoint ({_first_line(exc)})",
            provider=scheme,
            hint="check the network, AWS_ENDPOINT_URL and the region",
        )
    if isinstance(exc, bx.BotoCoreError):
        return ProviderUnavailable(f"AWS client error ({_first_line(exc)})", provider=scheme)
    return ProviderUnavailable(f"unexpected error ({exc.__class__.__name__})", provider=scheme)


def _code_and_message(code: str, message: str) -> tuple[str, str]:
    """A one-line code and message, even when an endpoint answered a JSON-protocol call with
    an XML error document (botocore then puts the whole document in the message)."""
    if message.lstrip().startswith("<"):
        found_code = re.search(r"<Code>([^<]{1,100})</Code>", message)
        found_msg = re.search(r"<Message>([^<]{0,300})</Message>", message)
        code = found_code.group(1) if found_code else code
        message = found_msg.group(1) if found_msg else ""
    return code or "error", " ".join(message.split())[:300]


def _client_error(code: str, reason: str, status: int, scheme: str) -> ProviderError:
    if code in _NOT_FOUND:
        return SecretNotFound(reason, provider=scheme, hint="check the name and the region")
    if code in _DENIED or status == 403:
        return AccessDenied(reason, provider=scheme, hint=_DENIED_HINT)
    if code in ("ThrottlingException", "Throttling", "ThrottledException") or status >= 500:
        return ProviderUnavailable(reason, provider=scheme, hint="AWS is throttling or failing")
    if code == "InvalidRequestException" and "deletion" in reason:
        return SecretNotFound(reason, provider=scheme, hint="the secret is scheduled for deletion")
    return SecretNotFound(reason, provider=scheme)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__


def _chunks(items: Sequence[SecretRef], size: int) -> Iterable[list[SecretRef]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class _AwsProvider:
    """What both AWS schemes share: settings, one client per region, error translation."""

    scheme: ClassVar[str]
    service: ClassVar[str]
    _params: ClassVar[frozenset[str]]

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.settings = check_settings(self.scheme, context.settings)
        self._clients: dict[str | None, Any] = {}
        self._session: Any = None

    def validate(self, ref: SecretRef) -> None:
        unknown = [k for k, _ in ref.params if k not in self._params]
        if unknown:
            raise ReferenceSyntaxError(
                f"{ref}: unknown option {unknown[0]!r}",
                hint="options: " + ", ".join(sorted(self._params)),
            )

    def _client(self, region: str | None) -> Any:
        if region in self._clients:
            return self._clients[region]
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise missing_extra(self.scheme, "aws", "boto3") from None
        _quiet_botocore()
        if self._session is None:
            self._session = boto3.session.Session(profile_name=self.settings.get("profile"))
        # leave room inside the resolver's deadline for one retry
        per_try = max(1.0, self.context.timeout / 2.5)
        config = Config(
            connect_timeout=per_try,
            read_timeout=per_try,
            retries={"max_attempts": self.settings.get("max_attempts", 2), "mode": "standard"},
            user_agent_extra="paneseal",
        )
        client = self._session.client(
            self.service,
            region_name=region or self.settings.get("region"),
            endpoint_url=self.settings.get("endpoint_url"),
            config=config,
        )
        self._clients[region] = client
        return client

    def _run(
        self,
        jobs: list[tuple[list[SecretRef], Callable[[list[SecretRef]], dict[SecretRef, Any]]]],
    ) -> dict[SecretRef, Fetched | ProviderError]:
        """Run each job (a group of refs and the call that reads them) concurrently;
        an exception of a job answers every ref of that job."""
        out: dict[SecretRef, Fetched | ProviderError] = {}

        def one(job: tuple[list[SecretRef], Callable[..., dict[SecretRef, Any]]]) -> None:
            refs, call = job
            try:
                out.update(call(refs))
            except Exception as exc:  # translated: every botocore error lands here
                err = translate(exc, self.scheme)
                for ref in refs:
                    out[ref] = _clone(err)

        workers = min(self.settings.get("max_workers", 8), len(jobs))
        if workers <= 1:
            for job in jobs:
                one(job)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, jobs))
        return out

    def _clients_for(
        self, refs: Sequence[SecretRef]
    ) -> tuple[dict[str | None, list[SecretRef]], dict[SecretRef, ProviderError]]:
        """Group refs by region and make each region's client up front (clients are
        thread-safe, sessions are not)."""
        groups: dict[str | None, list[SecretRef]] = {}
        failed: dict[SecretRef, ProviderError] = {}
        for ref in refs:
            groups.setdefault(ref.param("region"), []).append(ref)
        for region in list(groups):
            try:
                self._client(region)
            except Exception as exc:
                err = translate(exc, self.scheme)
                for ref in groups.pop(region):
                    failed[ref] = _clone(err)
        return groups, failed

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close is not None:
                close()
        self._clients.clear()


def _clone(err: ProviderError) -> ProviderError:
    return err.__class__(err.reason, provider=err.provider, hint=err.hint)


class SecretsManagerProvider(_AwsProvider):
    scheme: ClassVar[str] = "aws-sm"
    service: ClassVar[str] = "secretsmanager"
    _params: ClassVar[frozenset[str]] = frozenset(
        {"region", "version-stage", "version-id", "encoding"}
    )

    def validate(self, ref: SecretRef) -> None:
        super().validate(ref)
        if ref.param("version-stage") is not None and ref.param("version-id") is not None:
            raise ReferenceSyntaxError(f"{ref}: give version-stage or version-id, not both")
        if ref.param("encoding", "raw") not in ("raw", "base64"):
            raise ReferenceSyntaxError(
                f"{ref}: encoding must be raw or base64",
                hint="encoding=base64 delivers a binary secret as base64 text",
            )

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        groups, failed = self._clients_for(refs)
        jobs: list[tuple[list[SecretRef], Callable[[list[SecretRef]], dict[SecretRef, Any]]]] = []
        for region, group in groups.items():
            client = self._clients[region]
            plain = [r for r in group if not _versioned(r)]
            for chunk in _chunks(_unique_ids(plain), SM_BATCH):
                jobs.append((_with_dupes(chunk, plain), _batch_reader(client, self.scheme)))
            for ref in group:
                if _versioned(ref):
                    jobs.append(([ref], _single_reader(client)))
        out = self._run(jobs)
        out.update(failed)
        return out


def _versioned(ref: SecretRef) -> bool:
    return ref.param("version-stage") is not None or ref.param("version-id") is not None


def _unique_ids(refs: list[SecretRef]) -> list[SecretRef]:
    """One ref per secret id (the same secret may be asked for with different encodings)."""
    seen: set[str] = set()
    out: list[SecretRef] = []
    for ref in refs:
        if ref.locator not in seen:
            seen.add(ref.locator)
            out.append(ref)
    return out


def _with_dupes(chunk: list[SecretRef], refs: list[SecretRef]) -> list[SecretRef]:
    ids = {r.locator for r in chunk}
    return [r for r in refs if r.locator in ids]


def _fetched(entry: Mapping[str, Any], ref: SecretRef) -> Fetched:
    if entry.get("SecretString") is not None:
        return Fetched(value=str(entry["SecretString"]))
    raw = entry.get("SecretBinary")
    if raw is None:
        raise SecretNotFound("the secret version holds no value")
    if isinstance(raw, str):  # some endpoints hand back base64 text
        raw = base64.b64decode(raw)
    if ref.param("encoding") == "base64":
        return Fetched(value=base64.b64encode(raw).decode("ascii"))
    # bytes that are not UTF-8 still reach the environment unchanged (surrogateescape)
    return Fetched(value=bytes(raw).decode("utf-8", "surrogateescape"))


def _batch_reader(
    client: Any, scheme: str
) -> Callable[[list[SecretRef]], dict[SecretRef, Fetched | ProviderError]]:
    def read(refs: list[SecretRef]) -> dict[SecretRef, Fetched | ProviderError]:
        ids = list(dict.fromkeys(r.locator for r in refs))
        values: dict[str, Mapping[str, Any]] = {}
        errors: dict[str, ProviderError] = {}
        kwargs: dict[str, Any] = {"SecretIdList": ids}
        while True:
            answer = client.batch_get_secret_value(**kwargs)
            for entry in answer.get("SecretValues", []):
                for key in (entry.get("Name"), entry.get("ARN")):
                    if key:
                        values[str(key)] = entry
            for item in answer.get("Errors", []):
                code, message = _code_and_message(
                    str(item.get("ErrorCode", "")), str(item.get("Message", ""))
                )
                reason = f"{code}: {message}" if message else code
                errors[str(item.get("SecretId", ""))] = _client_error(code, reason, 0, scheme)
            token = answer.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        out: dict[SecretRef, Fetched | ProviderError] = {}
        for ref in refs:
            entry = values.get(ref.locator)
            if entry is None:
                out[ref] = errors.get(ref.locator) or SecretNotFound(
                    "not in the BatchGetSecretValue answer", provider=scheme
                )
                continue
            try:
                out[ref] = _fetched(entry, ref)
            except ProviderError as exc:
                out[ref] = exc
        return out

    return read


def _single_reader(client: Any) -> Callable[[list[SecretRef]], dict[SecretRef, Fetched]]:
    def read(refs: list[SecretRef]) -> dict[SecretRef, Fetched]:
        (ref,) = refs
        kwargs: dict[str, Any] = {"SecretId": ref.locator}
        if ref.param("version-stage") is not None:
            kwargs["VersionStage"] = ref.param("version-stage")
        if ref.param("version-id") is not None:
            kwargs["VersionId"] = ref.param("version-id")
        return {ref: _fetched(client.get_secret_value(**kwargs), ref)}

    return read


def parameter_name(ref: SecretRef) -> str:
    """``ssm://app/db/password`` names ``/app/db/password``: hierarchical names always
    start with '/', which the ``scheme://`` syntax swallows.  A name without '/' is used as
    written; ``ssm:///x`` keeps an explicit leading slash."""
    loc = ref.locator
    if loc.startswith("/") or "/" not in loc:
        return loc
    return "/" + loc


def _selector(ref: SecretRef) -> str:
    version, label = ref.param("version"), ref.param("label")
    if version is not None:
        return f":{version}"
    if label is not None:
        return f":{label}"
    return ""


class ParameterStoreProvider(_AwsProvider):
    scheme: ClassVar[str] = "ssm"
    service: ClassVar[str] = "ssm"
    _params: ClassVar[frozenset[str]] = frozenset({"region", "version", "label"})

    def validate(self, ref: SecretRef) -> None:
        super().validate(ref)
        version = ref.param("version")
        if version is not None and not version.isdigit():
            raise ReferenceSyntaxError(f"{ref}: version must be a number")
        if version is not None and ref.param("label") is not None:
            raise ReferenceSyntaxError(f"{ref}: give version or label, not both")
        if "//" in ref.locator.lstrip("/") or ref.locator.endswith("/"):
            raise ReferenceSyntaxError(f"{ref}: empty path segment in the parameter name")

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        groups, failed = self._clients_for(refs)
        jobs: list[tuple[list[SecretRef], Callable[[list[SecretRef]], dict[SecretRef, Any]]]] = []
        for region, group in groups.items():
            client = self._clients[region]
            # a selector (name:3, name:label) is answered without saying which selector it
            # matched, so only plain names are batched; versioned ones are read alone
            plain = [r for r in group if not _selector(r)]
            by_name: dict[str, list[SecretRef]] = {}
            for ref in plain:
                by_name.setdefault(parameter_name(ref), []).append(ref)
            names = list(by_name)
            for i in range(0, len(names), SSM_BATCH):
                chunk = [r for n in names[i : i + SSM_BATCH] for r in by_name[n]]
                jobs.append((chunk, _parameters_reader(client, self.scheme)))
            for ref in group:
                if _selector(ref):
                    jobs.append(([ref], _parameter_reader(client)))
        out = self._run(jobs)
        out.update(failed)
        return out


def _parameters_reader(
    client: Any, scheme: str
) -> Callable[[list[SecretRef]], dict[SecretRef, Fetched | ProviderError]]:
    def read(refs: list[SecretRef]) -> dict[SecretRef, Fetched | ProviderError]:
        names = list(dict.fromkeys(parameter_name(r) for r in refs))
        answer = client.get_parameters(Names=names, WithDecryption=True)
        found = {str(p.get("Name", "")): str(p.get("Value", "")) for p in answer["Parameters"]}
        out: dict[SecretRef, Fetched | ProviderError] = {}
        for ref in refs:
            name = parameter_name(ref)
            if name in found:
                out[ref] = Fetched(value=found[name])
            else:
                out[ref] = SecretNotFound(
                    f"ParameterNotFound: parameter {name} not found",
                    provider=scheme,
                    hint="check the name (case matters) and the region",
                )
        return out

    return read


def _parameter_reader(client: Any) -> Callable[[list[SecretRef]], dict[SecretRef, Fetched]]:
    def read(refs: list[SecretRef]) -> dict[SecretRef, Fetched]:
        (ref,) = refs
        answer = client.get_parameter(
            Name=parameter_name(ref) + _selector(ref), WithDecryption=True
        )
        return {ref: Fetched(value=str(answer["Parameter"]["Value"]))}

    return read
