"""``env://NAME``: a variable from paneseal's own environment.

For CI systems that already inject secrets as variables, and for wrapping other tools:
the value is re-delivered only to the panes or command that declare it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

from paneseal.errors import ProviderError, ReferenceSyntaxError, SecretNotFound
from paneseal.providers.base import Fetched, ProviderContext
from paneseal.refs import SecretRef

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvProvider:
    scheme: ClassVar[str] = "env"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context

    def validate(self, ref: SecretRef) -> None:
        if not _NAME.fullmatch(ref.locator) or ref.params:
            raise ReferenceSyntaxError(
                f"{ref}: env:// takes one environment variable name", hint="e.g. env://CI_DB_TOKEN"
            )

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        out: dict[SecretRef, Fetched | ProviderError] = {}
        for ref in refs:
            value = os.environ.get(ref.locator)
            if value is None:
                out[ref] = SecretNotFound(
                    f"${ref.locator} is not set in paneseal's environment",
                    hint=f"export {ref.locator} before running paneseal",
                )
            else:
                out[ref] = Fetched(value=value)
        return out

    def close(self) -> None:
        return None
