"""``bw://ITEM[#field]``: Bitwarden, through the ``bw`` CLI.

One ``bw get item ITEM`` per reference returns the whole item as JSON, so every field is
available from one call: ``#password`` (the default), ``#username``, ``#notes``, ``#uri``,
``#totp`` and each custom field by its name (built-in names win over custom ones).  A
secure note without a password delivers its notes by default.

ITEM is an id or a search term; ``bw`` refuses a term that matches several items, so ids
are the robust choice.  The vault is unlocked by ``BW_SESSION`` in paneseal's environment
(never ``--session`` in argv); ``--nointeraction`` makes ``bw`` fail instead of prompting.
``bw`` exits 1 and prints one message on stderr for every failure ("Not found.",
"Vault is locked.", ...), classified in ``_translate``.  The tests use a stand-in ``bw``
that follows this documented behaviour, since the real CLI cannot run on test machines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from paneseal.errors import (
    AccessDenied,
    ProviderError,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
)
from paneseal.providers.base import Fetched, ProviderContext
from paneseal.providers.onepassword import check_cli_settings, find_binary, run_cli
from paneseal.providers.support import fan_out
from paneseal.refs import SecretRef


def item_fields(item: Mapping[str, Any]) -> Fetched:
    """A ``bw get item`` document -> the default value plus every named field."""
    fields: dict[str, str] = {}
    login = item.get("login") or {}
    for key in ("username", "password", "totp"):
        if isinstance(login.get(key), str):
            fields[key] = login[key]
    uris = login.get("uris") or []
    if uris and isinstance(uris[0], Mapping) and isinstance(uris[0].get("uri"), str):
        fields["uri"] = uris[0]["uri"]
    if isinstance(item.get("notes"), str):
        fields["notes"] = item["notes"]
    for custom in item.get("fields") or []:
        name, value = custom.get("name"), custom.get("value")
        if isinstance(name, str) and isinstance(value, str):
            fields.setdefault(name, value)
    value = fields.get("password")
    if value is None and "login" not in item:
        value = fields.get("notes")
    return Fetched(value=value, fields=fields)


class BitwardenProvider:
    scheme: ClassVar[str] = "bw"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.settings = check_cli_settings(self.scheme, context.settings)

    def validate(self, ref: SecretRef) -> None:
        if ref.params:
            raise ReferenceSyntaxError(f"{ref}: bw:// takes no ?options")
        if ref.locator.startswith("-"):
            raise ReferenceSyntaxError(
                f"{ref}: an item may not start with '-'", hint="use the item's id"
            )

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        exe = find_binary(
            self.settings.get("binary", "bw"),
            self.scheme,
            "install the Bitwarden CLI: https://bitwarden.com/help/cli/",
        )
        if isinstance(exe, ProviderError):
            return dict.fromkeys(refs, exe)
        env = dict(os.environ)
        timeout = max(0.5, self.context.timeout - 0.3)

        def one(ref: SecretRef) -> Fetched | ProviderError:
            argv = [exe, "get", "item", ref.locator, "--nointeraction"]
            result = run_cli(argv, env, timeout)
            if isinstance(result, ProviderError):
                return result
            if result.code != 0:
                return _translate(
                    result.stderr.decode("utf-8", "replace"), result.code, ref.locator
                )
            try:
                item = json.loads(result.stdout)
            except ValueError:
                return ProviderUnavailable("bw printed something that is not a JSON item")
            if not isinstance(item, Mapping):
                return ProviderUnavailable("bw printed something that is not a JSON item")
            return item_fields(item)

        return fan_out(refs, one, self.settings.get("max_workers", 4))

    def close(self) -> None:
        return None


def _translate(stderr: str, code: int, item: str) -> ProviderError:
    """``bw``'s stderr -> the error tree.  Only the first line is kept (a "more than one
    result" answer goes on to list item ids)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    reason = lines[0][:300] if lines else f"bw exit status {code}"
    low = reason.lower()
    if "not found" in low:
        return SecretNotFound(
            f"no Bitwarden item {item!r} ({reason})",
            hint="check the name, or run 'bw sync' if it was added recently",
        )
    if "more than one result" in low:
        return SecretNotFound(
            f"{item!r} matches several Bitwarden items",
            hint=f"use the item's id: bw list items --search '{item}'",
        )
    if any(w in low for w in ("locked", "not logged in", "session", "master password", "unlock")):
        return AccessDenied(
            reason,
            hint="unlock the vault and export its key: export BW_SESSION=$(bw unlock --raw)",
        )
    return ProviderUnavailable(reason, hint="run the same 'bw get item' by hand to see more")
