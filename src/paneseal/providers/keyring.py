"""``keyring://SERVICE/USERNAME``: the OS keyring, through the ``keyring`` package.

``keyring.get_keyring()`` picks whatever backend has the highest priority, and with
``keyrings.alt`` installed and no D-Bus session that is a *plaintext file*.  paneseal never
asks keyring to choose: it instantiates one pinned backend class (Secret Service unless
config.toml names another from a short list of OS-encrypted stores) and fails with a clear
error when it is unavailable or locked.  Plaintext, null, fail and chainer backends are
refused by name, so no setting can route a secret through them.

The username is everything after the last '/', so services may contain slashes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from paneseal import paths
from paneseal.errors import (
    AccessDenied,
    ConfigError,
    Location,
    ProviderError,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
)
from paneseal.providers.base import Fetched, ProviderContext, missing_extra
from paneseal.refs import SecretRef

# short name -> (module, class): OS-encrypted stores only
BACKENDS: dict[str, tuple[str, str]] = {
    "secretservice": ("keyring.backends.SecretService", "Keyring"),
    "libsecret": ("keyring.backends.libsecret", "Keyring"),
    "kwallet": ("keyring.backends.kwallet", "DBusKeyring"),
    "macos": ("keyring.backends.macOS", "Keyring"),
    "windows": ("keyring.backends.Windows", "WinVaultKeyring"),
}
DEFAULT_BACKEND = "secretservice"
_REFUSED = ("keyrings.alt", "null", "fail", "chainer", "plaintext", "file")
_SETTINGS = ("backend", "timeout")


def _pick_backend(settings: Mapping[str, Any]) -> str:
    for key in settings:
        if key not in _SETTINGS:
            raise ConfigError(
                f"unknown setting {key!r} for keyring://",
                Location(str(paths.settings_path()), None, f"providers.keyring.{key}"),
                hint="known settings: " + ", ".join(_SETTINGS),
            )
    name = settings.get("backend", DEFAULT_BACKEND)
    where = Location(str(paths.settings_path()), None, "providers.keyring.backend")
    if not isinstance(name, str):
        raise ConfigError("backend must be a string", where)
    key = name.strip().lower()
    if key in BACKENDS:
        return key
    if any(word in key for word in _REFUSED):
        raise ConfigError(
            f"keyring backend {name!r} is refused: it stores secrets unencrypted or not at all",
            where,
            hint="use one of: " + ", ".join(BACKENDS),
        )
    raise ConfigError(
        f"unknown keyring backend {name!r}", where, hint="use one of: " + ", ".join(BACKENDS)
    )


class KeyringProvider:
    scheme: ClassVar[str] = "keyring"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.backend_name = _pick_backend(context.settings)

    def validate(self, ref: SecretRef) -> None:
        service, sep, user = ref.locator.rpartition("/")
        if not sep or not service or not user:
            raise ReferenceSyntaxError(
                f"{ref}: expected keyring://SERVICE/USERNAME",
                hint="e.g. keyring://db.example.com/alice",
            )
        if ref.params:
            raise ReferenceSyntaxError(f"{ref}: keyring:// takes no ?options")

    def _backend(self) -> Any:
        module_name, cls_name = BACKENDS[self.backend_name]
        try:
            import keyring.errors  # noqa: F401 - the package itself must be there
        except ImportError:
            raise missing_extra(self.scheme, "keyring", "keyring") from None
        try:
            cls = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ProviderUnavailable(
                f"keyring backend {self.backend_name} cannot load ({exc.__class__.__name__})",
                hint="install its dependencies, e.g. pip install 'paneseal[keyring]'",
            ) from None
        try:
            priority = cls.priority  # raises when the backend cannot work here
        except Exception as exc:
            raise _translate(exc, self.backend_name) from None
        if not priority or priority <= 0:
            raise _unavailable(self.backend_name, "the backend reports it is not usable here")
        if self.backend_name == "secretservice":
            _check_unlocked()
        return cls()

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        try:
            backend = self._backend()
        except ProviderError as exc:
            return dict.fromkeys(refs, exc)
        out: dict[SecretRef, Fetched | ProviderError] = {}
        for ref in refs:
            service, _, user = ref.locator.rpartition("/")
            try:
                value = backend.get_password(service, user)
            except Exception as exc:
                out[ref] = _translate(exc, self.backend_name)
                continue
            if value is None:
                out[ref] = SecretNotFound(
                    f"no password for user {user!r} of service {service!r} in the keyring",
                    hint=f"store one with: keyring set {service} {user}",
                )
            else:
                out[ref] = Fetched(value=value)
        return out

    def close(self) -> None:
        return None


def _check_unlocked() -> None:
    """Report a locked Secret Service collection before keyring tries to unlock it: its
    unlock prompt cannot be answered from a tmux session start, and keyring leaks the D-Bus
    connection when it gives up."""
    from contextlib import closing

    import secretstorage

    try:
        with closing(secretstorage.dbus_init()) as conn:
            locked = secretstorage.get_default_collection(conn).is_locked()
    except Exception as exc:
        raise _translate(exc, "secretservice") from None
    if locked:
        raise _translate(RuntimeError("collection is locked"), "secretservice")


def _unavailable(backend: str, why: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"the {backend} keyring is not available: {why}",
        hint="start a desktop session (or dbus + gnome-keyring) and check "
        "DBUS_SESSION_BUS_ADDRESS; paneseal never falls back to a plaintext keyring",
    )


def _translate(exc: BaseException, backend: str) -> ProviderError:
    """keyring/secretstorage/D-Bus failures -> the error tree (the only place)."""
    name = exc.__class__.__name__
    if name == "KeyringLocked" or "locked" in str(exc).lower():
        return AccessDenied(
            "the keyring is locked and could not be unlocked",
            hint="unlock it (log in to the desktop session, or unlock it with seahorse), "
            "then retry",
        )
    if name in ("PromptDismissedException",):
        return AccessDenied(
            "the unlock prompt was dismissed", hint="unlock the keyring, then retry"
        )
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else name
    return _unavailable(backend, f"{name}: {reason}")
