"""Render secrets as assignments that a shell evaluates back to the exact bytes.

Each format is chosen so that *every* value survives: quotes, ``$``, backticks,
backslashes, newlines, CR, tabs and non-ASCII; only NUL is impossible (rejected earlier).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from paneseal.errors import UsageError


def sh_quote(value: str) -> str:
    """POSIX single quotes: nothing inside is special; a quote is closed, escaped, reopened."""
    return "'" + value.replace("'", "'\\''") + "'"


def fish_quote(value: str) -> str:
    """fish single quotes: only backslash and quote are escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sh(values: Mapping[str, str]) -> str:
    return "".join(f"export {k}={sh_quote(v)}\n" for k, v in values.items())


def _fish(values: Mapping[str, str]) -> str:
    return "".join(f"set -gx {k} {fish_quote(v)}\n" for k, v in values.items())


def _dotenv(values: Mapping[str, str]) -> str:
    # python-dotenv dialect: single quotes, no interpolation, \\ and \' as the only escapes.
    # Its quoted-value pattern reads an escaped backslash right before the closing quote as
    # an escaped quote, so a value ending in a backslash cannot be written unambiguously:
    # refuse it rather than hand over a file that parses to something else.
    for k, v in values.items():
        if v.endswith("\\"):
            raise UsageError(
                f"{k}: the dotenv format cannot hold a value that ends with a backslash "
                "(dotenv parsers read it as an escaped quote)",
                hint="use --format sh, fish or json",
            )
    return "".join(f"{k}={fish_quote(v)}\n" for k, v in values.items())


def _json(values: Mapping[str, str]) -> str:
    # a value that is not UTF-8 (kept as surrogate escapes) would make the output invalid
    # JSON: refuse it instead
    for k, v in values.items():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(
                f"{k}: the value is not valid UTF-8, which JSON cannot carry",
                hint="use --format sh or fish",
            ) from None
    return json.dumps(dict(values), ensure_ascii=False, indent=2) + "\n"


FORMATS: dict[str, Callable[[Mapping[str, str]], str]] = {
    "sh": _sh,
    "fish": _fish,
    "dotenv": _dotenv,
    "json": _json,
}


def render(values: Mapping[str, str], fmt: str) -> str:
    return FORMATS[fmt](values)
