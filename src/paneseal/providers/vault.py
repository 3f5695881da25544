"""``vault://MOUNT/PATH[?version=N]#field``: HashiCorp Vault and OpenBao KV v1 and v2.

Users write the path they see in ``bao kv get``: the mount's engine version is asked of the
server once per mount and run (``sys/internal/ui/mounts/PATH``, what the ``vault``/``bao``
CLIs do), so nobody spells ``data/``.  Each distinct path costs exactly one HTTP read
whatever number of ``#field`` references use it, since the resolver hands us base refs.

Redundancy lives in :class:`_Cluster`: every request walks the configured addresses,
starting with the last one that answered, and moves on after a connection failure, a
timeout, a 5xx, a 429 or a sealed/standby answer.  A per-request timeout well under the
overall deadline means an address that accepts connections and never answers costs one
short wait, not the whole budget.  Rounds are bounded (``retries``), spaced by full-jitter
backoff, and never outlive the deadline; the final error lists each address and why.

Definitive answers (403, 404, 400) are not retried elsewhere: a healthy server said no.
TLS is always verified (``VAULT_SKIP_VERIFY`` is deliberately ignored); plain ``http://``
is accepted only to a loopback address, where nothing crosses a network.  Every library
exception is turned into the error tree by :func:`_translate` and nowhere else, and every
server-supplied text is scrubbed of the credentials we hold before it reaches a message.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from paneseal import paths
from paneseal.errors import (
    AccessDenied,
    ConfigError,
    Location,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
    TLSError,
)
from paneseal.providers.base import Fetched, ProviderContext, missing_extra
from paneseal.refs import SecretRef
from paneseal.resolve import field_text

SCHEME = "vault"
AUTH_METHODS = ("token", "approle", "userpass")
DEFAULT_ADDRESS = "https://127.0.0.1:8200"
DEFAULT_RETRIES = 2
MAX_WORKERS = 8
_KNOWN_PARAMS = ("version",)
_SEGMENT = re.compile(r"[^\x00-\x20/?#]+")
_KEYS: dict[str, type | tuple[type, ...]] = {
    "addresses": (list, str),
    "auth": str,
    "auth_mount": str,
    "role_id": str,
    "role_id_file": str,
    "secret_id_file": str,
    "username": str,
    "password_file": str,
    "token_file": str,
    "namespace": str,
    "ca_cert": str,
    "ca_path": str,
    "timeout": (int, float),
    "request_timeout": (int, float),
    "retries": int,
}


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "")
        if value:
            return value
    return None


# --------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class VaultConfig:
    """Validated ``[providers.vault]`` merged with the ``VAULT_*`` / ``BAO_*`` variables.

    Settings win over the environment: a config that lists a cluster should not be
    overridden by a ``VAULT_ADDR`` a user exported for a one-off ``bao`` session.
    """

    addresses: tuple[str, ...]
    auth: str = "token"
    auth_mount: str = ""
    role_id: str | None = None
    role_id_file: str | None = None
    secret_id_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    token_file: str | None = None
    namespace: str | None = None
    verify: str | bool = True
    timeout: float = 10.0
    request_timeout: float = 2.5
    retries: int = DEFAULT_RETRIES


def _where(key: str, source: str | None = None) -> Location:
    if source is not None:
        return Location(source)
    return Location(str(paths.settings_path()), None, f"providers.vault.{key}")


def check_address(address: str, where: Location) -> str:
    """Refuse what would send a token in clear or somewhere unexpected."""
    try:
        parts = urlsplit(address)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid Vault address {address!r}: {exc}", where) from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(
            f"invalid Vault address {address!r}: expected https://HOST[:PORT]",
            where,
            hint="unix sockets and other schemes are not supported",
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "a Vault address must not carry credentials",
            where,
            hint="configure auth in [providers.vault] instead",
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"invalid Vault address {address!r}: no ?query or #fragment", where)
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"refusing plain http:// to {host}: the token would cross the network unencrypted",
            where,
            hint="use https:// (http:// is accepted only for 127.0.0.1, ::1 or localhost)",
        )
    return address.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(context: ProviderContext) -> VaultConfig:
    settings = dict(context.settings)
    for key, value in settings.items():
        if key not in _KEYS:
            raise ConfigError(
                f"unknown setting {key!r}",
                _where(key),
                hint="known settings: " + ", ".join(sorted(_KEYS)),
            )
        expected = _KEYS[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            names = (
                " or ".join(t.__name__ for t in expected)
                if isinstance(expected, tuple)
                else expected.__name__
            )
            raise ConfigError(f"expected {names}, got {value!r}", _where(key))

    raw = settings.get("addresses")
    if raw is None:
        env_addr = _env("VAULT_ADDR", "BAO_ADDR")
        if env_addr is not None:
            name = "VAULT_ADDR" if os.environ.get("VAULT_ADDR") else "BAO_ADDR"
            addresses: tuple[str, ...] = (check_address(env_addr, Location(f"${name}")),)
        else:
            addresses = (DEFAULT_ADDRESS,)
    else:
        items = [raw] if isinstance(raw, str) else list(raw)
        if not items or not all(isinstance(a, str) for a in items):
            raise ConfigError("expected a non-empty list of addresses", _where("addresses"))
        addresses = tuple(check_address(a, _where("addresses")) for a in items)
        if len(set(addresses)) != len(addresses):
            raise ConfigError("an address is listed twice", _where("addresses"))

    auth = settings.get("auth", "token")
    if auth not in AUTH_METHODS:
        raise ConfigError(
            f"unknown auth method {auth!r}",
            _where("auth"),
            hint="use one of: " + ", ".join(AUTH_METHODS),
        )
    auth_mount = settings.get("auth_mount", "" if auth == "token" else auth).strip("/")
    if auth != "token" and not _path_ok(auth_mount):
        raise ConfigError(f"invalid auth mount {auth_mount!r}", _where("auth_mount"))

    role_id = settings.get("role_id")
    role_id_file = settings.get("role_id_file")
    secret_id_file = settings.get("secret_id_file")
    if auth == "approle":
        if role_id is None and role_id_file is None and not _env("VAULT_ROLE_ID"):
            raise ConfigError(
                "AppRole auth needs a role_id",
                _where("role_id"),
                hint="set role_id or role_id_file, or export VAULT_ROLE_ID",
            )
        if secret_id_file is None and not _env("VAULT_SECRET_ID"):
            raise ConfigError(
                "AppRole auth needs a secret_id",
                _where("secret_id_file"),
                hint="set secret_id_file (a 0600 file), or export VAULT_SECRET_ID",
            )
    username = settings.get("username") or _env("VAULT_USERNAME")
    password_file = settings.get("password_file")
    if auth == "userpass":
        if not username:
            raise ConfigError(
                "userpass auth needs a username",
                _where("username"),
                hint="set username, or export VAULT_USERNAME",
            )
        if password_file is None and not _env("VAULT_PASSWORD"):
            raise ConfigError(
                "userpass auth needs a password",
                _where("password_file"),
                hint="set password_file (a 0600 file), or export VAULT_PASSWORD",
            )

    namespace = settings.get("namespace") or _env("VAULT_NAMESPACE", "BAO_NAMESPACE")
    verify: str | bool = True
    ca_cert = settings.get("ca_cert") or _env("VAULT_CACERT", "BAO_CACERT")
    ca_path = settings.get("ca_path") or _env("VAULT_CAPATH", "BAO_CAPATH")
    if ca_cert:
        if not os.path.isfile(os.path.expanduser(ca_cert)):
            where = _where("ca_cert") if settings.get("ca_cert") else Location("$VAULT_CACERT")
            raise ConfigError(f"CA certificate file {ca_cert!r} does not exist", where)
        verify = os.path.expanduser(ca_cert)
    elif ca_path:
        if not os.path.isdir(os.path.expanduser(ca_path)):
            where = _where("ca_path") if settings.get("ca_path") else Location("$VAULT_CAPATH")
            raise ConfigError(f"CA directory {ca_path!r} does not exist", where)
        verify = os.path.expanduser(ca_path)

    timeout = float(context.timeout)
    request_timeout = float(settings.get("request_timeout", min(3.0, max(0.5, timeout / 4))))
    if request_timeout <= 0:
        raise ConfigError("expected a positive number of seconds", _where("request_timeout"))
    retries = settings.get("retries", DEFAULT_RETRIES)
    if not 0 <= retries <= 20:
        raise ConfigError("expected a whole number from 0 to 20", _where("retries"))

    return VaultConfig(
        addresses=addresses,
        auth=auth,
        auth_mount=auth_mount,
        role_id=role_id,
        role_id_file=role_id_file,
        secret_id_file=secret_id_file,
        username=username,
        password_file=password_file,
        token_file=settings.get("token_file"),
        namespace=namespace.strip("/") if namespace else None,
        verify=verify,
        timeout=timeout,
        request_timeout=min(request_timeout, timeout),
        retries=retries,
    )


def _path_ok(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts)


# --------------------------------------------------------------------------------------
# failures inside the provider, before translation


@dataclass
class _Attempt:
    address: str
    kind: str  # connection | timeout | tls | server
    reason: str


class _AllFailed(Exception):
    """Every address was tried (within the retries and the deadline) and none answered."""

    def __init__(self, attempts: list[_Attempt], out_of_time: bool) -> None:
        super().__init__("no Vault address answered")
        self.attempts = attempts
        self.out_of_time = out_of_time


class _Refused(Exception):
    """A definitive answer from a healthy server (403, 404, ...): the library's exception,
    the address that gave it, and what we were doing (``op``: login, mount, read)."""

    def __init__(self, exc: Exception, address: str, what: str, op: str, target: str) -> None:
        super().__init__(what)
        self.exc = exc
        self.address = address
        self.what = what
        self.op = op
        self.target = target


class _Problem(Exception):
    """A value-free reason found by this module itself (bad answer, no token...)."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.reason)
        self.error = error


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
# most telling first: OpenSSL's sentence, a host name mismatch, then its bare error code
_SSL_REASONS = (
    re.compile(r"certificate verify failed: ([^(\"']+)"),
    re.compile(r"(hostname '[^']*' doesn't match[^\"')]*)"),
    re.compile(r"\[SSL: ([A-Z_]+)\]"),
)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _network_reason(exc: Exception, timeout: float) -> tuple[str, str]:
    """(kind, reason) for a requests exception, without URLs or library noise."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        if "WRONG_VERSION_NUMBER" in text:
            return "tls", "does not speak TLS on that port (is it http://?)"
        for pattern in _SSL_REASONS:
            m = pattern.search(text)
            if m:
                return "tls", f"certificate not trusted: {_short(m.group(1).strip(), 120)}"
        return "tls", "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout", f"no connection within {timeout:.2g} s"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", f"connected but no answer within {timeout:.2g} s"
    m = _ERRNO.search(text)
    if m:
        return "connection", _short(m.group(1).strip().rstrip(".").lower(), 80)
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection", "connection closed without an answer"
    return "connection", _short(exc.__class__.__name__)


# --------------------------------------------------------------------------------------
# the failover client


class _Cluster:
    """Every request to Vault goes through :meth:`request`, so failover is one loop."""

    def __init__(self, config: VaultConfig, deadline: float) -> None:
        import hvac.adapters
        import requests
        import requests.adapters

        self.config = config
        self.deadline = deadline
        self.session = requests.Session()
        pool = requests.adapters.HTTPAdapter(pool_maxsize=MAX_WORKERS, max_retries=0)
        self.session.mount("https://", pool)
        self.session.mount("http://", pool)
        self.session.verify = config.verify
        self.token: str | None = None
        self.secrets: list[str] = []  # what _scrub must never let through
        self._adapters = {
            address: hvac.adapters.JSONAdapter(
                base_uri=address,
                verify=config.verify,
                session=self.session,
                namespace=config.namespace,
                allow_redirects=False,
                timeout=config.request_timeout,
            )
            for address in config.addresses
        }
        self._preferred = config.addresses[0]
        self._lock = threading.Lock()
        self._given_up: _AllFailed | None = None
        self.requests_sent = 0

    def set_token(self, token: str) -> None:
        self.token = token
        self.secrets.append(token)
        for adapter in self._adapters.values():
            adapter.token = token

    def _order(self) -> list[str]:
        with self._lock:
            first = self._preferred
        return [first] + [a for a in self.config.addresses if a != first]

    def _prefer(self, address: str) -> None:
        with self._lock:
            self._preferred = address

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        op: str,
        target: str = "",
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        import hvac.exceptions
        import requests

        if self._given_up is not None:
            raise self._given_up
        attempts: list[_Attempt] = []
        rounds = self.config.retries + 1
        for round_no in range(rounds):
            for address in self._order():
                remaining = self.deadline - time.monotonic()
                if remaining <= 0.05:
                    return self._give_up(attempts, out_of_time=True)
                timeout = min(self.config.request_timeout, remaining)
                adapter = self._adapters[address]
                kwargs: dict[str, Any] = {"timeout": timeout}
                if json is not None:
                    kwargs["json"] = dict(json)
                if params:
                    kwargs["params"] = dict(params)
                try:
                    with self._lock:
                        self.requests_sent += 1
                    answer = adapter.request(method, path, **kwargs)
                except hvac.exceptions.VaultError as exc:
                    status = _status_of(exc)
                    if status is not None and (status >= 500 or status == 429):
                        attempts.append(_Attempt(address, "server", self._server_reason(exc)))
                        continue
                    self._prefer(address)
                    raise _Refused(exc, address, what, op, target) from None
                except requests.exceptions.RequestException as exc:
                    kind, reason = _network_reason(exc, timeout)
                    attempts.append(_Attempt(address, kind, reason))
                    continue
                status = getattr(answer, "status_code", 200)
                if 300 <= status < 400:
                    # a standby pointing at the active node: never follow it (the token
                    # would go to an address nobody configured), try the next one instead
                    where = _short(str(answer.headers.get("Location", "?")), 80)
                    attempts.append(
                        _Attempt(address, "server", f"standby redirect to {where}, not followed")
                    )
                    continue
                self._prefer(address)
                return answer
            if round_no + 1 < rounds:
                pause = random.uniform(0, min(1.0, 0.1 * 2**round_no))  # noqa: S311 - jitter
                remaining = self.deadline - time.monotonic()
                if remaining <= pause + 0.05:
                    return self._give_up(attempts, out_of_time=True)
                time.sleep(pause)
        return self._give_up(attempts, out_of_time=False)

    def _give_up(self, attempts: list[_Attempt], *, out_of_time: bool) -> Any:
        failure = _AllFailed(attempts, out_of_time)
        self._given_up = failure
        raise failure

    def _server_reason(self, exc: Exception) -> str:
        status = _status_of(exc)
        text = _server_text(exc, self.secrets)
        if status == 503 and "sealed" in text.lower():
            return "sealed (HTTP 503)"
        if "standby" in text.lower() or "not active" in text.lower():
            return f"standby without an active node (HTTP {status})"
        return f"HTTP {status}" + (f": {text}" if text else "")

    def close(self) -> None:
        self.session.close()


def _status_of(exc: Exception) -> int | None:
    import hvac.exceptions as hx

    table: list[tuple[type[Exception], int]] = [
        (hx.InvalidRequest, 400),
        (hx.Unauthorized, 401),
        (hx.Forbidden, 403),
        (hx.InvalidPath, 404),
        (hx.RateLimitExceeded, 429),
        (hx.InternalServerError, 500),
        (hx.VaultNotInitialized, 501),
        (hx.BadGateway, 502),
        (hx.VaultDown, 503),
    ]
    for cls, status in table:
        if isinstance(exc, cls):
            return status
    return 500 if isinstance(exc, hx.UnexpectedError) else None


def _server_text(exc: Exception, secrets: Sequence[str]) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list):
        text = "; ".join(str(e) for e in errors if e)
    else:
        text = str(getattr(exc, "text", "") or "")
        if text.lstrip().startswith(("<", "{")):
            text = ""
    return _scrub(_short(text), secrets)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "<redacted>")
    return text


# --------------------------------------------------------------------------------------
# the one place library errors become paneseal errors


def _translate(exc: BaseException, secrets: Sequence[str]) -> ProviderError:
    import hvac.exceptions as hx

    def made(error: ProviderError) -> ProviderError:
        # ``ref`` stays unset: the resolver gives each request its own copy naming the
        # full reference (with its #field), which the base ref we were handed lacks
        error.provider = SCHEME
        return error

    if isinstance(exc, _Problem):
        return made(exc.error)
    if isinstance(exc, _AllFailed):
        kinds = {a.kind for a in exc.attempts}
        listed = "; ".join(f"{a.address}: {a.reason}" for a in _dedupe(exc.attempts))
        tried = f"tried {listed}" if listed else "no address could be tried in time"
        if exc.out_of_time and (not kinds or kinds <= {"timeout"}):
            return made(
                ProviderTimeout(
                    f"no Vault address answered before the deadline ({tried})",
                    hint="check the addresses, or raise [providers.vault] timeout",
                )
            )
        if kinds == {"tls"}:
            return made(
                TLSError(
                    f"no Vault server could be reached over verified TLS ({tried})",
                    hint="set ca_cert in [providers.vault] or VAULT_CACERT to the CA that "
                    "signed the server certificate, and check each address's scheme and port",
                )
            )
        if kinds == {"timeout"}:
            return made(
                ProviderTimeout(
                    f"every Vault address timed out ({tried})",
                    hint="check the network, or raise [providers.vault] request_timeout",
                )
            )
        return made(
            ProviderUnavailable(
                f"no Vault address answered ({tried})",
                hint="start or unseal the server, or list more addresses in "
                "[providers.vault] addresses",
            )
        )
    if isinstance(exc, _Refused):
        inner = exc.exc
        text = _server_text(inner, secrets)
        at = f" at {exc.address}"
        if exc.op == "login" and isinstance(
            inner, hx.InvalidRequest | hx.Forbidden | hx.Unauthorized | hx.InvalidPath
        ):
            return made(
                AccessDenied(
                    f"{exc.what} refused{at}" + (f": {text}" if text else ""),
                    hint="check the credentials and the auth mount in [providers.vault]",
                )
            )
        if (
            exc.op == "mount"
            and isinstance(inner, hx.Forbidden)
            and "preflight" in _server_text(inner, ())
        ):
            # the token is valid but may touch nothing under that name
            first = exc.target.split("/", 1)[0] + "/"
            return made(
                AccessDenied(
                    f"no mount {first!r} visible to this token{at}",
                    hint="check the mount name (bao secrets list) and the token's policy",
                )
            )
        deleted = _deleted_version(inner) if exc.op == "read" else None
        if deleted:
            return made(
                SecretNotFound(
                    f"{deleted} ({exc.what}{at})",
                    hint="ask for another ?version=N, or undelete it: bao kv undelete",
                )
            )
        if isinstance(inner, hx.Forbidden | hx.Unauthorized):
            return made(
                AccessDenied(
                    f"permission denied {exc.what}{at}" + (f" ({text})" if text else ""),
                    hint="check the token's policy (bao token capabilities PATH), or log in "
                    "again: the token may have expired",
                )
            )
        if isinstance(inner, hx.InvalidPath):
            return made(
                SecretNotFound(
                    f"nothing found {exc.what}{at}",
                    hint="check the path with: bao kv list MOUNT/",
                )
            )
        status = _status_of(inner)
        return made(
            ProviderUnavailable(
                f"Vault refused {exc.what}{at}: HTTP {status}" + (f": {text}" if text else ""),
            )
        )
    if isinstance(exc, hx.VaultError):  # pragma: no cover - always wrapped by _Cluster
        return _translate(_Refused(exc, "?", "the request", "read", ""), secrets)
    return made(
        ProviderUnavailable(
            f"unexpected failure ({exc.__class__.__name__})",
            hint="this is a bug in the vault provider; please report it",
        )
    )


def _dedupe(attempts: list[_Attempt]) -> Iterator[_Attempt]:
    """The last reason per address, in the order addresses were first tried."""
    last: dict[str, _Attempt] = {}
    for a in attempts:
        last[a.address] = a  # dict keeps first-insertion order, value is the latest
    yield from last.values()


# --------------------------------------------------------------------------------------
# credentials


def _read_secret_file(path_text: str, what: str) -> str:
    path = Path(os.path.expanduser(path_text))
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _Problem(
            ProviderUnavailable(
                f"cannot read the {what} file {str(path)!r}: {exc.strerror}",
                hint="fix the path in [providers.vault]",
            )
        ) from None
    if not value:
        raise _Problem(ProviderUnavailable(f"the {what} file {str(path)!r} is empty"))
    return value


def _find_token(config: VaultConfig) -> str:
    token = _env("VAULT_TOKEN", "BAO_TOKEN")
    if token:
        return token.strip()
    if config.token_file:
        return _read_secret_file(config.token_file, "token")
    home_token = Path.home() / ".vault-token"
    if home_token.is_file():
        value = home_token.read_text(encoding="utf-8").strip()
        if value:
            return value
    raise _Problem(
        AccessDenied(
            "no Vault token: VAULT_TOKEN, BAO_TOKEN and ~/.vault-token are all empty",
            hint="run 'bao login' (or 'vault login'), or configure auth = \"approle\" or "
            '"userpass" in [providers.vault]',
        )
    )


# --------------------------------------------------------------------------------------
# the provider


@dataclass(frozen=True)
class _Mount:
    path: str  # "secret/" (with the trailing slash, as Vault reports it)
    kind: str  # kv | cubbyhole | generic
    version: int


class VaultProvider:
    scheme: ClassVar[str] = SCHEME

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.config = load_config(context)
        self._mounts: dict[str, _Mount] = {}
        self._mount_lock = threading.Lock()
        self._cluster: _Cluster | None = None
        #: HTTP requests sent by the last fetch_many (tests and benchmarks read it).
        self.requests_sent = 0

    def validate(self, ref: SecretRef) -> None:
        parts = ref.locator.split("/")
        if len(parts) < 2 or not _path_ok(ref.locator):
            raise ReferenceSyntaxError(
                f"{ref}: expected vault://MOUNT/PATH (no empty, '.' or '..' segments)",
                hint="e.g. vault://secret/myapp/db#password",
            )
        for key, value in ref.params:
            if key not in _KNOWN_PARAMS:
                raise ReferenceSyntaxError(
                    f"{ref}: unknown option {key!r}", hint="vault:// takes only ?version=N"
                )
            if key == "version" and (not value.isdigit() or int(value) < 1):
                raise ReferenceSyntaxError(
                    f"{ref}: version must be a whole number from 1", hint="e.g. ?version=3"
                )

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        try:
            import hvac  # noqa: F401 - checks the extra is installed
        except ImportError:
            error = missing_extra(SCHEME, "vault", "hvac")
            return {ref: error for ref in refs}
        margin = min(0.5, self.context.timeout * 0.1)
        cluster = _Cluster(self.config, time.monotonic() + self.context.timeout - margin)
        self._cluster = cluster
        out: dict[SecretRef, Fetched | ProviderError] = {}
        try:
            try:
                self._authenticate(cluster)
            except Exception as exc:
                return {ref: _translate(exc, cluster.secrets) for ref in refs}
            if not refs:
                return out
            # the first read settles the preferred address and the mount cache, so the
            # parallel reads after it neither probe a dead address nor the same mount again
            out[refs[0]] = self._one(cluster, refs[0])
            rest = list(refs[1:])
            if len(rest) <= 1:
                out.update({ref: self._one(cluster, ref) for ref in rest})
            else:
                with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(rest))) as pool:
                    fetch = functools.partial(self._one, cluster)
                    out.update(zip(rest, pool.map(fetch, rest), strict=True))
            return out
        finally:
            self.requests_sent = cluster.requests_sent

    def _authenticate(self, cluster: _Cluster) -> None:
        config = self.config
        if config.auth == "token":
            cluster.set_token(_find_token(config))
            return
        if config.auth == "approle":
            role_id = config.role_id or _env("VAULT_ROLE_ID")
            if not role_id and config.role_id_file:
                role_id = _read_secret_file(config.role_id_file, "role_id")
            secret_id = _env("VAULT_SECRET_ID")
            if not secret_id and config.secret_id_file:
                secret_id = _read_secret_file(config.secret_id_file, "secret_id")
            cluster.secrets.extend(s for s in (secret_id,) if s)
            body = {"role_id": role_id, "secret_id": secret_id}
            path = f"/v1/auth/{quote(config.auth_mount)}/login"
            what = f"login with AppRole (auth/{config.auth_mount})"
        else:
            password = _env("VAULT_PASSWORD")
            if not password and config.password_file:
                password = _read_secret_file(config.password_file, "password")
            cluster.secrets.extend(s for s in (password,) if s)
            body = {"password": password}
            user = quote(config.username or "", safe="")
            path = f"/v1/auth/{quote(config.auth_mount)}/login/{user}"
            what = f"login with userpass as {config.username!r} (auth/{config.auth_mount})"
        answer = cluster.request("POST", path, what=what, op="login", json=body)
        try:
            token = answer["auth"]["client_token"]
        except (TypeError, KeyError):
            raise _Problem(ProviderUnavailable(f"no token in the answer to {what}")) from None
        if not isinstance(token, str) or not token:
            raise _Problem(ProviderUnavailable(f"no token in the answer to {what}"))
        cluster.set_token(token)

    def _mount_of(self, cluster: _Cluster, locator: str) -> _Mount:
        with self._mount_lock:
            for prefix, mount in self._mounts.items():
                if locator.startswith(prefix):
                    return mount
            answer = self._probe_mount(cluster, locator)
            self._mounts[answer.path] = answer
            return answer

    def _probe_mount(self, cluster: _Cluster, locator: str) -> _Mount:
        import hvac.exceptions as hx

        what = f"looking up the mount of {locator!r}"
        try:
            answer = cluster.request(
                "GET",
                f"/v1/sys/internal/ui/mounts/{quote(locator)}",
                what=what,
                op="mount",
                target=locator,
            )
        except _Refused as exc:
            if isinstance(exc.exc, hx.InvalidPath):
                # servers older than the endpoint: the CLI assumes KV v1 at the first segment
                return _Mount(locator.split("/", 1)[0] + "/", "kv", 1)
            raise
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise _Problem(ProviderUnavailable(f"unexpected answer {what}"))
        path = data["path"]
        kind = str(data.get("type", ""))
        options = data.get("options") or {}
        version = 2 if str(options.get("version", "1")) == "2" else 1
        if not path.endswith("/"):
            path += "/"
        if kind not in ("kv", "generic", "cubbyhole"):
            raise _Problem(
                ProviderUnavailable(
                    f"mount {path!r} is a {kind!r} engine; vault:// reads KV (v1, v2) and "
                    "cubbyhole mounts only"
                )
            )
        return _Mount(path, kind, version if kind == "kv" else 1)

    def _one(self, cluster: _Cluster, ref: SecretRef) -> Fetched | ProviderError:
        try:
            return self._read(cluster, ref)
        except Exception as exc:
            return _translate(exc, cluster.secrets)

    def _read(self, cluster: _Cluster, ref: SecretRef) -> Fetched:
        mount = self._mount_of(cluster, ref.locator)
        rest = ref.locator[len(mount.path) :]
        if not rest:
            raise _Problem(
                SecretNotFound(
                    f"{mount.path!r} is a mount, not a secret",
                    hint=f"name a secret inside it: vault://{mount.path}NAME",
                )
            )
        version = ref.param("version")
        params: dict[str, str] = {}
        if mount.version == 2:
            api_path = f"{mount.path}data/{rest}"
            if version is not None:
                params["version"] = version
        else:
            if version is not None:
                raise _Problem(
                    SecretNotFound(
                        f"?version={version} asked for, but {mount.path!r} is a KV version 1 "
                        "mount, which keeps no versions",
                        hint="drop ?version= from the reference",
                    )
                )
            api_path = f"{mount.path}{rest}"
        what = f"reading {api_path}" + (f" version {version}" if version else "")
        answer = cluster.request(
            "GET", f"/v1/{quote(api_path)}", what=what, op="read", target=api_path, params=params
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
            raise _Problem(ProviderUnavailable(f"unexpected answer {what}"))
        data = answer["data"]
        if mount.version == 2:
            data = data.get("data")
            if not isinstance(data, dict):
                raise _Problem(SecretNotFound(f"no data {what} (deleted or destroyed)"))
        return Fetched(fields={str(k): field_text(v) for k, v in data.items()})

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _deleted_version(exc: Exception) -> str | None:
    """KV v2 answers 404 with metadata when the version exists but was deleted."""
    body = getattr(exc, "json", None)
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    meta = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        return None
    version = meta.get("version", "?")
    if meta.get("destroyed"):
        return f"version {version} was destroyed"
    if meta.get("deletion_time"):
        return f"version {version} was deleted"
    return None
