"""tmuxinator loaded but not started, while ``paneseal start`` resolves the secrets.

Ruby and tmuxinator's libraries take ~100 ms to load, half of a bare ``tmuxinator start``;
resolving 20 secrets takes paneseal about as long.  So the first thing ``paneseal start``
does, before it even imports click, is start tmuxinator's own Ruby interpreter with a few
lines (``GATE``) that require tmuxinator's libraries and then block on a pipe.  Only once
every secret is resolved does paneseal write tmuxinator's argv into that pipe; the
interpreter then loads the real ``tmuxinator`` executable, exactly as its ``#!`` line would
have, and from there on it is an ordinary tmuxinator run (behind the shim).

If a secret fails, or paneseal stops for any reason, the pipe closes without an argv and
the interpreter exits: tmuxinator's command line never ran, so it read no project,
rendered no ERB, ran no hook and made no tmux call.  Libraries that define classes are all
that was loaded.  A ``tmuxinator`` that is not a Ruby script (an rbenv shim, a wrapper)
is not preloaded: it is started after resolution, as before.
"""

from __future__ import annotations

import os
import sys

from paneseal import paths

# No typing, dataclasses, subprocess, shutil or pathlib here: together ~25 ms before the
# spawn, which is what this module exists to bring forward.

# No user data in here; the argv arrives through the pipe (fd number in ARGV[0]).  A
# LoadError leaves the requires to the executable itself (slower, same behaviour).
GATE = """\
trap("INT") { exit!(130) }
begin
  require "thor"
  require "tmuxinator"
rescue LoadError
end
gate = IO.for_fd(Integer(ARGV.shift))
words = gate.read.split("\\0", -1)
gate.close
words.pop
exit!(3) if words.empty?
words.each { |w| w.force_encoding(Encoding.find("locale")) }  # as ruby's own ARGV
trap("INT", "DEFAULT")
$0 = words.shift
ARGV.replace(words)
load $0
"""


class Preloaded:
    """A waiting interpreter and the private run directory its tmuxinator will use."""

    def __init__(
        self, pid: int, gate: int, workdir: str, token: str, tmuxinator: str, terminal: bool
    ) -> None:
        self.pid = pid
        self.gate = gate  # write end of the pipe the interpreter waits on
        self.workdir = workdir
        self.token = token
        self.tmuxinator = tmuxinator
        self.terminal = terminal  # started with the terminal as stdin (an attaching start)
        self.started = False
        self.status: int | None = None

    def wait(self) -> int:
        """Exit status, as subprocess reports it (negative: killed by that signal)."""
        if self.status is None:
            _, raw = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(raw)
        return self.status

    def go(self, argv: list[str]) -> bool:
        """Hand tmuxinator its argv (its program first): tmuxinator starts now.  False:
        the interpreter was gone already (killed, or it could not load), nothing started."""
        data = b"".join(os.fsencode(word) + b"\0" for word in argv)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.gate, view) :]
        except BrokenPipeError:
            self.cancel()
            return False
        finally:
            self.close_gate()
        self.started = True
        return True

    def close_gate(self) -> None:
        if self.gate >= 0:
            try:  # noqa: SIM105 - contextlib would add import time before the spawn
                os.close(self.gate)
            except OSError:
                pass
            self.gate = -1

    def cancel(self) -> None:
        """tmuxinator will not start: close the pipe, make sure the interpreter is gone.
        After go() this is tmuxinator itself, which is left alone."""
        self.close_gate()
        if self.started or self.status is not None:
            return
        try:  # noqa: SIM105 - as above
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        self.wait()

    def abandon(self) -> None:
        """Cancel and remove the run directory: nothing will use either."""
        import shutil

        self.cancel()
        shutil.rmtree(self.workdir, ignore_errors=True)


_pending: Preloaded | None = None


def begin(args: list[str]) -> None:
    """Start the interpreter for ``paneseal start ARGS``, if tmuxinator is a Ruby script.
    Never raises: anything unexpected just means no preload (start works without)."""
    global _pending  # noqa: PLW0603 - the one hand-off from the entry point to `start`
    try:
        _pending = _spawn(args)
    except (OSError, ValueError):
        _pending = None


def take() -> Preloaded | None:
    """The preloaded interpreter, now owned by the caller (who must go() or cancel())."""
    global _pending
    pending, _pending = _pending, None
    return pending


def discard() -> None:
    """The command line ended without taking it (usage error, ``--help``): clean up."""
    pending = take()
    if pending is not None:
        pending.abandon()


def attaching(args: list[str]) -> bool:
    """Whether ``paneseal start ARGS`` attaches (click's rule: the last flag wins)."""
    attach = True
    for arg in args:
        if arg == "--":
            break
        if arg in ("--attach", "--no-attach"):
            attach = arg == "--attach"
    return attach


def ruby_of(tmuxinator: str) -> list[str] | None:
    """The interpreter from the ``#!`` line of a Ruby ``tmuxinator``; None otherwise."""
    with open(tmuxinator, "rb") as f:
        first = f.readline(512)
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        named = [w for w in words[1:] if not w.startswith("-")]
        return words if named and named[0].startswith("ruby") else None
    return words if os.path.basename(words[0]).startswith("ruby") else None


def new_workdir() -> str:
    """A fresh private run directory (shim, FIFOs, gate files) under the runtime dir."""
    base = paths.private_dir(paths.runtime_dir_name())
    workdir = os.path.join(base, f"start-{os.urandom(6).hex()}")
    os.mkdir(workdir, 0o700)
    os.mkdir(os.path.join(workdir, "bin"), 0o700)
    return workdir


def run_env(workdir: str, token: str) -> dict[str, str]:
    """tmuxinator's environment: ours, with the shim first on PATH and the run's token."""
    env = dict(os.environ)
    shims = os.path.join(workdir, "bin")
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["PANESEAL_TOKEN"] = token
    return env


def _which(program: str) -> str | None:
    """``shutil.which`` for a bare name (shutil would pull in re and enum here)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _spawn(args: list[str]) -> Preloaded | None:
    if os.environ.get("PANESEAL_PRELOAD", "") == "0":
        return None
    tmuxinator = _which("tmuxinator")
    if tmuxinator is None:
        return None
    ruby = ruby_of(tmuxinator)
    if ruby is None:
        return None
    terminal = attaching(args) and sys.stdin.isatty()
    workdir = new_workdir()
    token = os.urandom(16).hex()
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    os.set_inheritable(read_end, True)
    actions = [] if terminal else [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    argv = [*ruby, "-e", GATE, str(read_end)]
    try:
        # posix_spawn, not subprocess: that import alone is ~3 ms on this path
        pid = os.posix_spawnp(
            argv[0], argv, run_env(workdir, token), file_actions=actions, setsid=False
        )
    except BaseException:
        import shutil

        os.close(write_end)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        os.close(read_end)
    return Preloaded(pid, write_end, workdir, token, tmuxinator, terminal)


__all__ = ["GATE", "Preloaded", "begin", "discard", "take"]
