"""Render secrets as assignments that a shell evaluates back to the exact bytes.

Each format is chosen so that *every* value survives: quotes, ``$``, backticks,
backslashes, newlines, CR, tabs and non-ASCII; only NUL is impossible (rejected earlier).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping


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
    # python-dotenv dialect: single quotes, no interpolation, \\ and \' as the only escapes
    return "".join(f"{k}={fish_quote(v)}\n" for k, v in values.items())


def _json(values: Mapping[str, str]) -> str:
    return json.dumps(dict(values), ensure_ascii=False, indent=2) + "\n"


FORMATS: dict[str, Callable[[Mapping[str, str]], str]] = {
    "sh": _sh,
    "fish": _fish,
    "dotenv": _dotenv,
    "json": _json,
}


def render(values: Mapping[str, str], fmt: str) -> str:
    return FORMATS[fmt](values)
