"""Exit codes, mapped from the error tree in exactly one place.

docs/exit-codes.md holds the same table; tests/test_exitcodes.py checks that they agree.
The most specific class wins (the table is searched in order).
"""

from __future__ import annotations

from paneseal import errors as e

OK = 0
FINDINGS = 1  # scan found hard-coded secrets; log verify found tampering
USAGE = 2
INTERRUPTED = 130

# (error class, exit code, meaning) — order matters: subclasses before their bases.
TABLE: list[tuple[type[e.PanesealError], int, str]] = [
    (e.UsageError, 2, "bad command line"),
    (e.ProjectNotFound, 3, "no such tmuxinator project"),
    (e.ConfigError, 3, "invalid project file, secrets: block or config.toml"),
    (e.ReferenceError_, 4, "malformed reference or unknown scheme"),
    (e.ResolutionFailed, 5, "one or more required secrets could not be resolved"),
    (e.ProviderError, 5, "a secret could not be read or written"),
    (e.TmuxError, 6, "tmux or tmuxinator missing or failing"),
    (e.AuditError, 7, "the access log could not be written, or did not verify"),
    (e.PanesealError, 1, "any other paneseal error"),
]


def code_for(exc: BaseException) -> int:
    for cls, code, _ in TABLE:
        if isinstance(exc, cls):
            return code
    return 1
