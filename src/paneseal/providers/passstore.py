"""``pass://PATH[#field]``: entries of a password-store (https://www.passwordstore.org).

Each entry is ``$PASSWORD_STORE_DIR/PATH.gpg``; paneseal decrypts it with ``gpg --batch -d``
itself instead of running ``pass show``, a bash wrapper that costs ~20 ms more per entry,
and decrypts several entries at once (gpg-agent serves concurrent clients).  As in pass,
the first line is the password; later ``key: value`` lines are fields (``#user``), and
``#password`` names the first line unless the entry defines its own ``password:`` line.

gpg's stderr never holds plaintext, so its first line is kept in error reasons.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from paneseal.errors import (
    AccessDenied,
    ConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
)
from paneseal.providers import support
from paneseal.providers.base import Fetched, ProviderContext
from paneseal.refs import SecretRef

_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "store_dir": str,
    "gnupghome": str,
    "gpg": str,
    "timeout": (int, float),
    "max_workers": int,
}
_SEGMENT = re.compile(r"[^/\x00]+")
MAX_ENTRY = 1 << 20

_LOCKED = (
    "bad passphrase",
    "inappropriate ioctl",
    "operation cancelled",
    "no pinentry",
    "pinentry",
    "problem with the agent",
)


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    out = support.check_settings("pass", settings, _SETTINGS)
    for key, value in out.items():
        where = support.setting_location("pass", key)
        if key == "max_workers" and not 1 <= value <= 64:
            raise ConfigError("max_workers must be between 1 and 64", where)
        if isinstance(value, str) and key != "gpg" and not os.path.isabs(os.path.expanduser(value)):
            raise ConfigError(f"{key} must be an absolute path", where)
    return out


def parse_entry(text: str) -> Fetched:
    """First line is the value; ``key: value`` lines after it are the fields."""
    first, _, rest = text.partition("\n")
    fields: dict[str, str] = {}
    for line in rest.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key[0].isspace():
            fields.setdefault(key.strip(), value.strip())
    fields.setdefault("password", first)
    return Fetched(value=first, fields=fields)


class PassProvider:
    scheme: ClassVar[str] = "pass"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.settings = check_settings(context.settings)

    def validate(self, ref: SecretRef) -> None:
        if ref.params:
            raise ReferenceSyntaxError(f"{ref}: pass:// takes no ?options")
        segments = ref.locator.split("/")
        if ref.locator.startswith("/") or not all(_SEGMENT.fullmatch(s) for s in segments):
            raise ReferenceSyntaxError(
                f"{ref}: expected pass://DIR/ENTRY with no empty path segment",
                hint="write the entry name as 'pass ls' shows it, e.g. pass://web/github",
            )
        if any(s in (".", "..") for s in segments):
            raise ReferenceSyntaxError(
                f"{ref}: '.' and '..' are not allowed in a pass:// path",
                hint="name the entry relative to the store, as 'pass ls' shows it",
            )

    def store_dir(self) -> Path:
        configured = self.settings.get("store_dir") or os.environ.get("PASSWORD_STORE_DIR")
        if configured:
            return Path(os.path.expanduser(configured))
        return Path.home() / ".password-store"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if "gnupghome" in self.settings:
            env["GNUPGHOME"] = os.path.expanduser(self.settings["gnupghome"])
        return env

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        store = self.store_dir()
        gpg_name = self.settings.get("gpg", "gpg")
        gpg = shutil.which(gpg_name)
        if gpg is None:
            err = ProviderUnavailable(
                f"{gpg_name!r} not found",
                hint="install GnuPG (apt install gnupg), or set gpg in [providers.pass]",
            )
            return dict.fromkeys(refs, err)
        if not store.is_dir():
            err = ProviderUnavailable(
                f"no password store at {store}",
                hint="set PASSWORD_STORE_DIR, or run 'pass init'",
            )
            return dict.fromkeys(refs, err)
        env = self._env()
        timeout = max(0.5, self.context.timeout - 0.3)

        def one(ref: SecretRef) -> Fetched | ProviderError:
            return _decrypt(gpg, store, ref, env, timeout)

        return support.fan_out(refs, one, self.settings.get("max_workers", 8))

    def close(self) -> None:
        return None


def _decrypt(
    gpg: str, store: Path, ref: SecretRef, env: Mapping[str, str], timeout: float
) -> Fetched | ProviderError:
    entry = store / f"{ref.locator}.gpg"
    if not entry.is_file():
        return SecretNotFound(
            f"{ref.locator} is not in the password store ({store})",
            hint="list the entries with: pass ls",
        )
    try:
        ran = support.run_program(
            [gpg, "--batch", "--quiet", "--yes", "--no-tty", "--decrypt", "--", str(entry)],
            timeout=timeout,
            env=env,
        )
    except OSError as exc:
        return ProviderUnavailable(f"cannot run gpg: {exc.strerror}")
    except subprocess.TimeoutExpired:
        return ProviderTimeout(
            f"gpg did not decrypt {ref.locator} within {timeout:g} s",
            hint="is gpg-agent waiting for a passphrase? unlock the key with 'pass show' once",
        )
    out = ran.stdout
    if ran.code != 0:
        return _translate(ran.stderr.decode("utf-8", "replace"), ran.code)
    if len(out) > MAX_ENTRY:
        return ProviderUnavailable(f"entry larger than {MAX_ENTRY} bytes")
    return parse_entry(out.decode("utf-8", "surrogateescape"))


def _translate(stderr: str, code: int) -> ProviderError:
    """gpg's failure, by its message: the one place pass:// errors are classified."""
    lines = [ln.removeprefix("gpg: ").strip() for ln in stderr.splitlines() if ln.strip()]
    reason = "; ".join(lines[-2:])[:300] if lines else f"gpg exit status {code}"
    low = stderr.lower()
    if "no secret key" in low or "secret key not available" in low:
        return AccessDenied(
            f"gpg cannot decrypt: {reason}",
            hint="the entry is encrypted to a key this GNUPGHOME does not hold",
        )
    if any(word in low for word in _LOCKED):
        return AccessDenied(
            f"gpg could not unlock the key: {reason}",
            hint="unlock it first (run 'pass show' on any entry in a terminal), then retry",
        )
    if "connection refused" in low or "no agent running" in low:
        return ProviderUnavailable(
            f"gpg-agent unavailable: {reason}", hint="run: gpgconf --launch gpg-agent"
        )
    return ProviderUnavailable(f"gpg failed: {reason}")
