"""Secret references: ``scheme://locator[?key=value&...][#field]``.

A reference says *where* a value lives and never holds the value, so it is safe to log, to
print in errors and to write into the audit log.  That safety is also why a reference may
not embed credentials (``vault://user:pass@host/...``): the config file would stop being
harmless to steal.  Parsing is strict and printing gives the same text back, so the text a
user wrote is the text every report shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from paneseal.errors import ReferenceSyntaxError

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
_PARAM_KEY = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# userinfo with a password before the first slash: ``user:pass@host/...``
_USERINFO = re.compile(r"^[^/@]*:[^/@]*@")
MAX_REF_LENGTH = 4096


def _reject_controls(text: str) -> None:
    for i, ch in enumerate(text):
        if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:  # C0, DEL and C1 controls
            raise ReferenceSyntaxError(
                f"reference contains control character U+{ord(ch):04X} at position {i}",
                hint="references are plain text: remove the character",
            )


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A parsed reference.  ``params`` keeps the user's order so ``str()`` round-trips."""

    scheme: str
    locator: str
    params: tuple[tuple[str, str], ...] = ()
    field: str | None = None

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        if not isinstance(text, str):
            raise ReferenceSyntaxError(
                f"a reference must be a string, not {type(text).__name__}",
                hint="write it as scheme://locator, for example store://db_password",
            )
        if len(text) > MAX_REF_LENGTH:
            raise ReferenceSyntaxError(f"reference longer than {MAX_REF_LENGTH} characters")
        _reject_controls(text)
        if text != text.strip():
            raise ReferenceSyntaxError(
                "reference has leading or trailing white space", hint="remove the spaces"
            )
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise ReferenceSyntaxError(
                f"{text!r} is not a reference: expected scheme://locator",
                hint="for example store://db_password or vault://secret/app#password",
            )
        if not _SCHEME.fullmatch(scheme):
            raise ReferenceSyntaxError(
                f"invalid scheme {scheme!r}: use lower-case letters, digits, '+', '.', '-'"
            )
        rest, hsep, field = rest.partition("#")
        if hsep and not field:
            raise ReferenceSyntaxError(f"{text!r}: empty #field", hint="name a field after '#'")
        if "#" in field:
            raise ReferenceSyntaxError(f"{text!r}: more than one '#'")
        locator, qsep, query = rest.partition("?")
        if not locator:
            raise ReferenceSyntaxError(f"{text!r}: empty locator after {scheme}://")
        if _USERINFO.match(locator):
            raise ReferenceSyntaxError(
                f"{scheme}://...: credentials inside a reference are not allowed",
                hint="put credentials in the provider's own configuration, never in the project",
            )
        params: list[tuple[str, str]] = []
        if qsep:
            if not query:
                raise ReferenceSyntaxError(f"{text!r}: empty query after '?'")
            seen: set[str] = set()
            for item in query.split("&"):
                key, eq, value = item.partition("=")
                if not eq or not _PARAM_KEY.fullmatch(key):
                    raise ReferenceSyntaxError(
                        f"{scheme}://{locator}: bad query item {item!r}",
                        hint="write options as ?key=value&key2=value2",
                    )
                if key in seen:
                    raise ReferenceSyntaxError(f"{scheme}://{locator}: option {key!r} given twice")
                seen.add(key)
                params.append((key, value))
        return cls(scheme, locator, tuple(params), field if hsep else None)

    def __str__(self) -> str:
        text = f"{self.scheme}://{self.locator}"
        if self.params:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.params)
        if self.field is not None:
            text += f"#{self.field}"
        return text

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"

    @property
    def base(self) -> SecretRef:
        """The reference without ``#field``: what a provider actually fetches."""
        return replace(self, field=None) if self.field is not None else self

    def param(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.params:
            if k == key:
                return v
        return default
