"""Writing tmux command syntax for ``tmux source-file -``.

A value that travels through a pipe into ``source-file`` is in no process's argv; it only
has to survive tmux's own parser.  tmux 3.3a's double-quoted strings expand ``$VAR``,
``~`` and backslash escapes, so each of those is escaped; control characters become
``\\n``/``\\t``/``\\r`` or ``\\ooo`` octal so a value stays on one command line.  A backslash
is never put before a letter or digit (tmux would read an escape).  Single quotes are not
used: after a newline tmux strips leading spaces and drops ``#`` lines inside them.
"""

from __future__ import annotations

from collections.abc import Iterable

_SIMPLE = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", '"': '\\"', "$": "\\$", "~": "\\~"}


def quote(text: str) -> str:
    """One argument, double-quoted for tmux's command parser (round-trips byte-exact)."""
    out = ['"']
    for ch in text:
        rep = _SIMPLE.get(ch)
        if rep is not None:
            out.append(rep)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def command(args: Iterable[str]) -> str:
    """A whole tmux command as one line of ``source-file`` input."""
    return " ".join(quote(a) for a in args)


def env_options(env: dict[str, str]) -> list[str]:
    """``-e NAME=VALUE`` pairs, in a stable order."""
    out: list[str] = []
    for name in sorted(env):
        out += ["-e", f"{name}={env[name]}"]
    return out
