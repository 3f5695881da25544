"""``exec://PROGRAM/LOCATOR``: summon's provider contract.

PROGRAM (a bare name: looked up in ``$XDG_CONFIG_HOME/paneseal/providers/`` first, then on
``PATH``) runs with LOCATOR as its only argument and no shell.  Exit 0: stdout is the value,
byte-exact except for one trailing newline (summon trims all white space; we do not, since
a value may end in spaces).  Non-zero: the first line of stderr is the reason.  A program
that outlives the provider's timeout is killed with its whole process group.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from paneseal import paths
from paneseal.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceSyntaxError,
    SecretNotFound,
)
from paneseal.providers.base import Fetched, ProviderContext
from paneseal.providers.support import fan_out, run_program
from paneseal.refs import SecretRef

_PROGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
MAX_OUTPUT = 1 << 20


class ExecProvider:
    scheme: ClassVar[str] = "exec"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.timeout = max(0.1, context.timeout - 0.2)
        self._deadline = time.monotonic() + self.timeout

    def validate(self, ref: SecretRef) -> None:
        program, sep, locator = ref.locator.partition("/")
        if not sep or not locator or not _PROGRAM.fullmatch(program):
            raise ReferenceSyntaxError(
                f"{ref}: expected exec://PROGRAM/LOCATOR with a bare program name",
                hint="e.g. exec://summon-conjur/prod/db/password",
            )

    def _find(self, program: str) -> str | None:
        local = paths.config_dir() / "providers" / program
        if local.is_file() and os.access(local, os.X_OK):
            return str(local)
        return shutil.which(program)

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        # one deadline for the whole batch: a program queued behind 8 slow ones must still
        # be killed before the resolver gives up, or it would outlive paneseal
        self._deadline = time.monotonic() + self.timeout
        return fan_out(refs, self._one, max_workers=8)

    def _one(self, ref: SecretRef) -> Fetched | ProviderError:
        program, _, locator = ref.locator.partition("/")
        exe = self._find(program)
        if exe is None:
            return ProviderUnavailable(
                f"program {program!r} not found",
                hint=f"put it on PATH or in {paths.config_dir() / 'providers'}",
            )
        try:
            ran = run_program(
                [exe, locator],
                timeout=self._deadline - time.monotonic(),
                cwd=Path.home() if Path.home().is_dir() else "/",
            )
        except OSError as exc:
            return ProviderUnavailable(f"cannot run {program}: {exc.strerror}")
        except subprocess.TimeoutExpired:
            return ProviderTimeout(
                f"{program} did not finish within {self.timeout:g} s and was killed",
                hint="raise [providers.exec] timeout in config.toml if it is just slow",
            )
        if ran.code != 0:
            first = ran.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = first[0][:300] if first else f"exit status {ran.code}"
            return SecretNotFound(f"{program} failed: {reason}", hint=f"run {program} by hand")
        out = ran.stdout
        if len(out) > MAX_OUTPUT:
            return ProviderUnavailable(f"{program} printed more than {MAX_OUTPUT} bytes")
        if out.endswith(b"\n"):
            out = out[:-1]
        return Fetched(value=out.decode("utf-8", "surrogateescape"))

    def close(self) -> None:
        return None
