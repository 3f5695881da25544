"""``store://NAME``: the embedded age store (see ``paneseal.store``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from paneseal.errors import ConfigError, ProviderError, ReferenceSyntaxError
from paneseal.providers.base import Fetched, ProviderContext
from paneseal.refs import SecretRef
from paneseal.store import Store, validate_store_name


class StoreProvider:
    scheme: ClassVar[str] = "store"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.store = Store.default()

    def validate(self, ref: SecretRef) -> None:
        try:
            validate_store_name(ref.locator)
        except ConfigError as exc:
            raise ReferenceSyntaxError(f"{ref}: {exc.what}", hint=exc.hint) from None
        if ref.params:
            raise ReferenceSyntaxError(f"{ref}: store:// takes no ?options")

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        out: dict[SecretRef, Fetched | ProviderError] = {}
        try:
            ident = self.store._identity()
            self.store._check_store_dir()
        except ProviderError as exc:
            return dict.fromkeys(refs, exc)
        for ref in refs:
            try:
                raw = self.store._decrypt(ref.locator, ident)
            except ProviderError as exc:
                out[ref] = exc
                continue
            out[ref] = Fetched(value=raw.decode("utf-8", "surrogateescape"))
        return out

    def close(self) -> None:
        return None
