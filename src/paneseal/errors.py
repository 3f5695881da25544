"""The single error tree of paneseal.

Every failure a user can cause or meet is one of these, so the CLI can map a class to an
exit code in exactly one place (``paneseal.cli.exitcodes``) and no traceback ever reaches a
user for a user error.  Messages are built from structured fields and say what to do next.
No error ever carries a secret value: they hold references, names and reasons only.

::

    PanesealError
    ├── UsageError                 bad flags / arguments the parser could not catch
    ├── ConfigError                a project file or config.toml is wrong (file, line, key path)
    │   └── ProjectNotFound        tmuxinator would not find the project either
    ├── ReferenceError_            base of reference problems
    │   ├── ReferenceSyntaxError   malformed ``scheme://locator?k=v#field``
    │   └── UnknownScheme          no provider is installed for the scheme
    ├── ProviderError              one secret could not be fetched (carries ref + provider)
    │   ├── SecretNotFound
    │   ├── AccessDenied
    │   ├── ProviderUnavailable    backend down, sealed, not installed, bad local setup
    │   ├── ProviderTimeout
    │   ├── TLSError
    │   ├── FieldNotFound          ``#field`` absent from the secret document
    │   ├── InvalidValue           value cannot be delivered (NUL byte, ...)
    │   └── StoreError             embedded store: corrupt file, wrong identity, permissions
    ├── ResolutionFailed           aggregate: every failure of one run, reported at once
    ├── TmuxError                  tmux / tmuxinator missing or failing
    └── AuditError                 the access record could not be written or verified
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from paneseal.refs import SecretRef


class PanesealError(Exception):
    """Root of every error paneseal raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(PanesealError):
    """The command line itself is wrong."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file something is: file, 1-based line, and a key path such as
    ``windows[2].server.secrets.DB_URL``."""

    file: str
    line: int | None = None
    key_path: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.key_path:
            where += f": {self.key_path}"
        return where


class ConfigError(PanesealError):
    """A project file, the ``secrets:`` block or ``config.toml`` is invalid."""

    def __init__(self, what: str, location: Location | None = None, *, hint: str = "") -> None:
        self.what = what
        self.location = location
        super().__init__(f"{location}: {what}" if location else what, hint=hint)


class ProjectNotFound(ConfigError):
    """No project file matches the name, in the places tmuxinator looks."""


class ReferenceError_(PanesealError):
    """Base of problems with a secret reference's text."""


class ReferenceSyntaxError(ReferenceError_):
    """The reference text does not follow ``scheme://locator[?k=v&...][#field]``."""


class UnknownScheme(ReferenceError_):
    """No provider is installed for the reference's scheme."""

    def __init__(self, scheme: str, installed: Sequence[str]) -> None:
        self.scheme = scheme
        self.installed = tuple(installed)
        super().__init__(
            f"unknown scheme {scheme!r}",
            hint="installed schemes: " + ", ".join(sorted(self.installed)),
        )


class ProviderError(PanesealError):
    """One reference could not be turned into a value.

    ``reason`` is a short, value-free sentence; ``hint`` says what to do next.  ``ref`` and
    ``provider`` are filled in by the provider or, at the latest, by the resolver.
    """

    kind = "error"

    def __init__(
        self,
        reason: str,
        *,
        ref: SecretRef | None = None,
        provider: str = "",
        hint: str = "",
    ) -> None:
        self.reason = reason
        self.ref = ref
        self.provider = provider
        super().__init__(reason, hint=hint)

    def with_context(self, ref: SecretRef, provider: str) -> ProviderError:
        if self.ref is None:
            self.ref = ref
        if not self.provider:
            self.provider = provider
        return self

    def __str__(self) -> str:
        parts = []
        if self.ref is not None:
            parts.append(str(self.ref))
        parts.append(self.reason)
        text = ": ".join(parts)
        if self.hint:
            text += f" ({self.hint})"
        return text


class SecretNotFound(ProviderError):
    kind = "not found"


class AccessDenied(ProviderError):
    kind = "access denied"


class ProviderUnavailable(ProviderError):
    kind = "unavailable"


class ProviderTimeout(ProviderError):
    kind = "timeout"


class TLSError(ProviderError):
    kind = "bad TLS"


class FieldNotFound(ProviderError):
    kind = "field not found"


class InvalidValue(ProviderError):
    kind = "invalid value"


class StoreError(ProviderError):
    kind = "store error"


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed secret of a resolution: the declared name (if any) and the error."""

    name: str
    error: ProviderError | ReferenceError_
    optional: bool = False
    ref: SecretRef | None = None

    def line(self) -> str:
        err = self.error
        provider = getattr(err, "provider", "") or "-"
        ref = getattr(err, "ref", None) or self.ref
        kind = getattr(err, "kind", "reference")
        reason = getattr(err, "reason", err.message)
        text = f"{self.name}: {ref if ref is not None else '-'} [{provider}] {kind}: {reason}"
        if err.hint:
            text += f" ({err.hint})"
        return text


class ResolutionFailed(PanesealError):
    """At least one required secret failed: nothing was delivered.  Lists every failure."""

    def __init__(self, failures: Sequence[Failure]) -> None:
        self.failures = tuple(failures)
        n = len(self.failures)
        plural = "s" if n != 1 else ""
        super().__init__(f"{n} required secret{plural} failed to resolve; nothing was delivered")

    def report_lines(self) -> list[str]:
        return [f.line() for f in self.failures]


class TmuxError(PanesealError):
    """tmux or tmuxinator is missing, or a tmux call failed."""


class AuditError(PanesealError):
    """The access log could not be written (fail closed) or did not verify."""
