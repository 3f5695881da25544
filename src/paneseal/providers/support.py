"""Pieces several providers share: settings checks, running a program under a deadline,
and fanning a batch out over a few threads.

Kept out of ``base`` (the contract) so that a provider that needs none of this imports
none of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from paneseal import paths
from paneseal.errors import ConfigError, Location
from paneseal.refs import SecretRef

Schema = Mapping[str, type | tuple[type, ...]]
T = TypeVar("T")


def check_settings(scheme: str, settings: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """Unknown keys and wrong types in ``[providers.<scheme>]`` are config errors.

    Range and format checks stay with each provider: they differ per setting.
    """
    out: dict[str, Any] = {}
    for key, value in settings.items():
        where = setting_location(scheme, key)
        expected = schema.get(key)
        if expected is None:
            raise ConfigError(
                f"unknown setting {key!r} for {scheme}://",
                where,
                hint="known settings: " + ", ".join(sorted(schema)),
            )
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ConfigError(f"{key} has the wrong type ({type(value).__name__})", where)
        out[key] = value
    return out


def setting_location(scheme: str, key: str) -> Location:
    return Location(str(paths.settings_path()), None, f"providers.{scheme}.{key}")


@dataclass(frozen=True, slots=True)
class Ran:
    """A finished program.  ``stdout`` may hold a value: it never shows in a repr."""

    code: int
    stdout: bytes = field(repr=False)
    stderr: bytes


def run_program(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Ran:
    """Run ``argv`` (no shell, no terminal, stdin closed) in its own process group.

    Raises ``OSError`` if it cannot start and ``subprocess.TimeoutExpired`` once the whole
    group has been killed, so nothing it spawned outlives the deadline.  Callers word both
    errors themselves: each knows what a hanging program of its kind usually means.
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=max(0.05, timeout))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.communicate()
        raise
    return Ran(proc.returncode, out, err)


def fan_out(
    refs: Sequence[SecretRef], one: Callable[[SecretRef], T], max_workers: int
) -> dict[SecretRef, T]:
    """Answer each reference with ``one``, a few at a time (a thread only when it helps)."""
    if len(refs) <= 1 or max_workers <= 1:
        return {ref: one(ref) for ref in refs}
    with ThreadPoolExecutor(max_workers=min(max_workers, len(refs))) as pool:
        return dict(zip(refs, pool.map(one, refs), strict=True))
