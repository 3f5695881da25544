"""Run a command on a real pseudo-terminal (its controlling tty), answering prompts."""

from __future__ import annotations

import os
import pty
import select
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass
class PtyResult:
    output: bytes
    status: int


def run_in_pty(
    argv: Sequence[str],
    answers: Sequence[tuple[bytes, bytes]] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> PtyResult:
    """Run ``argv`` with stdin/stdout/stderr on a new pty; each time the output so far ends
    with a prompt (first of a pair), type the answer (second of the pair)."""
    pid, fd = pty.fork()
    if pid == 0:  # child: pty.fork made the pty our controlling terminal
        try:
            os.execvpe(argv[0], list(argv), dict(env if env is not None else os.environ))  # noqa: S606
        finally:
            os._exit(127)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if pending and output.rstrip().endswith(pending[0][0]):
                os.write(fd, pending.pop(0)[1])
        else:
            os.kill(pid, 9)
            raise AssertionError(f"{argv[0]} did not finish on the pty: {output!r}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return PtyResult(output, os.waitstatus_to_exitcode(status))
