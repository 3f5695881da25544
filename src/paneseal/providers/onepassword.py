"""``op://VAULT/ITEM[/SECTION]/FIELD[?attribute=..]``: 1Password, through ``op read``.

The reference is 1Password's own secret-reference syntax, handed to ``op read --no-newline``
as an argument (a reference, never a value; no shell).  ``op`` authenticates itself from
its environment: ``OP_SERVICE_ACCOUNT_TOKEN``, ``OP_CONNECT_HOST``/``OP_CONNECT_TOKEN``, a
desktop-app integration or an ``OP_SESSION_*`` variable; paneseal passes its environment
through and never puts a token in argv.  ``op`` costs 0.5-1.5 s a call, so references are
read concurrently.

``op`` exits 1 for every failure and says why on stderr (``[ERROR] DATE TIME message``);
the message is classified in ``_translate``.  The tests use a stand-in ``op`` that follows
this documented behaviour, since the real tool cannot run on the test machines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
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
from paneseal.providers.base import Fetched, ProviderContext
from paneseal.providers.support import Ran, check_settings, fan_out, run_program, setting_location
from paneseal.refs import SecretRef

MAX_OUTPUT = 1 << 20
_ERROR_PREFIX = re.compile(r"^\[ERROR\]\s+\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+")
_OP_PARAMS = frozenset({"attribute", "ssh-format"})


def check_cli_settings(
    scheme: str, settings: Mapping[str, Any], extra: Sequence[str] = ()
) -> dict[str, Any]:
    """``binary``, ``timeout``, ``max_workers`` (+ ``extra`` string keys) for a CLI provider."""
    schema: dict[str, type | tuple[type, ...]] = {
        "binary": str,
        "timeout": (int, float),
        "max_workers": int,
        **dict.fromkeys(extra, str),
    }
    out = check_settings(scheme, settings, schema)
    workers = out.get("max_workers")
    if workers is not None and not 1 <= workers <= 32:
        raise ConfigError(
            "max_workers must be between 1 and 32", setting_location(scheme, "max_workers")
        )
    return out


def run_cli(argv: list[str], env: Mapping[str, str], timeout: float) -> Ran | ProviderError:
    """Run a vendor CLI without a shell or a terminal; kill its process group on timeout."""
    name = os.path.basename(argv[0])
    try:
        ran = run_program(argv, timeout=timeout, env=env)
    except OSError as exc:
        return ProviderUnavailable(f"cannot run {name}: {exc.strerror}")
    except subprocess.TimeoutExpired:
        return ProviderTimeout(
            f"{name} did not answer within {timeout:g} s and was killed",
            hint="is it waiting for a sign-in or unlock? raise the timeout in config.toml "
            "if it is just slow",
        )
    if len(ran.stdout) > MAX_OUTPUT:
        return ProviderUnavailable(f"{name} printed more than {MAX_OUTPUT} bytes")
    return ran


def find_binary(name: str, scheme: str, install_hint: str) -> str | ProviderError:
    found = shutil.which(name)
    if found is None:
        return ProviderUnavailable(
            f"{name!r} not found on PATH", provider=scheme, hint=install_hint
        )
    return found


class OnePasswordProvider:
    scheme: ClassVar[str] = "op"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.settings = check_cli_settings(self.scheme, context.settings, extra=("account",))

    def validate(self, ref: SecretRef) -> None:
        parts = ref.locator.split("/")
        if not 3 <= len(parts) <= 4 or not all(parts):
            raise ReferenceSyntaxError(
                f"{ref}: expected op://VAULT/ITEM/FIELD or op://VAULT/ITEM/SECTION/FIELD",
                hint="copy the secret reference from 1Password ('Copy Secret Reference')",
            )
        unknown = [k for k, _ in ref.params if k not in _OP_PARAMS]
        if unknown:
            raise ReferenceSyntaxError(
                f"{ref}: unknown option {unknown[0]!r}", hint="op supports ?attribute=..."
            )

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        exe = find_binary(
            self.settings.get("binary", "op"),
            self.scheme,
            "install the 1Password CLI: https://developer.1password.com/docs/cli/get-started/",
        )
        if isinstance(exe, ProviderError):
            return dict.fromkeys(refs, exe)
        env = dict(os.environ)
        if "account" in self.settings:
            env["OP_ACCOUNT"] = self.settings["account"]
        timeout = max(0.5, self.context.timeout - 0.3)

        def one(ref: SecretRef) -> Fetched | ProviderError:
            op_ref = str(ref.base)  # paneseal's op:// text is 1Password's own syntax
            result = run_cli([exe, "read", "--no-newline", "--", op_ref], env, timeout)
            if isinstance(result, ProviderError):
                return result
            if result.code != 0:
                return _translate(result.stderr.decode("utf-8", "replace"), result.code)
            return Fetched(value=result.stdout.decode("utf-8", "surrogateescape"))

        return fan_out(refs, one, self.settings.get("max_workers", 4))

    def close(self) -> None:
        return None


def _translate(stderr: str, code: int) -> ProviderError:
    """``op``'s stderr -> the error tree.  Only its first line is kept."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    reason = _ERROR_PREFIX.sub("", lines[0])[:300] if lines else f"op exit status {code}"
    low = stderr.lower()
    if any(
        word in low
        for word in (
            "not currently signed in",
            "not signed in",
            "session expired",
            "authorization prompt dismissed",
            "invalid token",
            "unauthorized",
            "(401)",
            "(403)",
            "forbidden",
            "you do not have permission",
        )
    ):
        return AccessDenied(
            reason,
            hint="sign in with 'op signin' (or the desktop app), or export "
            "OP_SERVICE_ACCOUNT_TOKEN before starting paneseal",
        )
    if any(
        word in low
        for word in (
            "isn't an item",
            "isn't a vault",
            "isn't a field",
            "does not have a field",
            "no item found",
            "could not find",
            "not found",
        )
    ):
        return SecretNotFound(
            reason, hint="check the reference with: op item get ITEM --vault VAULT"
        )
    if any(word in low for word in ("timeout", "timed out", "deadline exceeded")):
        return ProviderTimeout(reason)
    return ProviderUnavailable(reason, hint="run the same 'op read' by hand to see more")
