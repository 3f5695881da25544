"""The provider contract.

A provider turns references of one scheme into values.  It is called once per resolution
with every distinct *base* reference (``#field`` stripped) of its scheme, so it can batch
(one HTTP read per Vault path, ``BatchGetSecretValue`` for AWS, concurrent ``gpg -d``).
It answers per reference, with either a ``Fetched`` document or a ``ProviderError``, so one
missing secret never hides the others.  Picking ``#field`` out of a document is done once,
centrally, by the resolver.

Each provider translates its library's exceptions into the error tree in one place (a
``_translate`` function in its module) and imports its SDK inside ``__init__`` or
``fetch_many``, never at module import: ``paneseal`` runs at every session start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from paneseal.errors import ProviderError
from paneseal.refs import SecretRef

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a provider read for one base reference.

    ``value`` is the secret as text (used when no ``#field`` is asked for); ``fields`` is a
    mapping for backends that store key/value documents (Vault KV, pass's ``key: value``
    lines).  When ``fields`` is None and a ``#field`` is asked for, the resolver parses
    ``value`` as JSON, YAML or ``key: value`` lines.
    """

    value: str | None = field(default=None, repr=False)
    fields: Mapping[str, str] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "Fetched(<hidden>)"


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider is told about its run: settings from config.toml (merged with the
    project's per-provider overrides) and its time budget in seconds."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT


@runtime_checkable
class Provider(Protocol):
    """Typing-only contract; built-ins and plug-ins implement it the same way."""

    scheme: ClassVar[str]

    def __init__(self, context: ProviderContext) -> None: ...

    def validate(self, ref: SecretRef) -> None:
        """Raise ``ReferenceSyntaxError`` if the locator is malformed for this scheme.

        Called before anything is fetched, so a typo is reported with every other problem.
        """

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        """Fetch every base reference; answer each one, never raise for a single secret."""

    def close(self) -> None: ...


def missing_extra(scheme: str, extra: str, module: str) -> ProviderError:
    """The error for an optional SDK that is not installed (one wording everywhere)."""
    from paneseal.errors import ProviderUnavailable

    return ProviderUnavailable(
        f"the {scheme}:// provider needs the Python package {module!r}",
        provider=scheme,
        hint=f"install with: pip install 'paneseal[{extra}]'",
    )
