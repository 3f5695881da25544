"""The ``tmux`` shim tmuxinator runs instead of tmux.

Every call goes straight to the real tmux (``execve``, with paneseal's own variables taken
out of the environment so nothing of ours reaches tmux's global environment), except:

* ``new-session``: becomes ``tmux [globals] start-server ; source-file -`` and the original
  command, plus ``-e NAME=VALUE`` for each secret, is written to that client's stdin.  The
  values are in no argv, not in the environment of tmuxinator, its shell or the shim's tmux.
* ``new-window`` / ``split-window`` aimed at a window that has window-level secrets: the
  same, with ``-e`` for that window's secrets only (tmux gives ``-e`` to that pane alone).
* ``attach-session`` / ``switch-client``: tells the broker the script is done, then execs.

Two ways in: ``delegated()`` from the per-run ``sh`` front-end that ``paneseal start``
generates (values come from its broker), and ``main()``, the ``paneseal-tmux`` command for
the opt-in ``tmux_command: paneseal-tmux`` (the shim resolves the project itself).  This
module is a program entry point, so it may print to stderr and exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn, Protocol

from paneseal.tmux import argv as targv
from paneseal.tmux import quoting
from paneseal.tmux.broker import BrokerRefused, ask

OWN_VARS = ("PANESEAL_BROKER", "PANESEAL_TOKEN")
SCRIPT_MARK = b"# Run on_project_start command."


class Source(Protocol):
    def session(
        self, name: str, parsed: targv.TmuxArgv
    ) -> tuple[dict[str, str], dict[str, str | None]]: ...
    def window(self, session: str, position: int, parsed: targv.TmuxArgv) -> dict[str, str]: ...
    def done(self, parsed: targv.TmuxArgv) -> None: ...


class ShimError(Exception):
    """Delivery is impossible: tmuxinator's script must stop here."""


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k not in OWN_VARS}


def exec_real(real: str, args: list[str]) -> NoReturn:
    sys.stdout.flush()
    os.execve(real, [real, *args], clean_env())  # noqa: S606 - argv passed as given


def run_via_stdin(real: str, parsed: targv.TmuxArgv, lines: list[str]) -> int:
    """Run commands through ``source-file -`` so their arguments stay out of every argv."""
    argv = [real, *parsed.globals, "start-server", ";", "source-file", "-"]
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    return subprocess.run(argv, input=data, env=clean_env(), check=False).returncode


def base_index(real: str, parsed: targv.TmuxArgv) -> int:
    out = subprocess.run(
        [real, *parsed.globals, "show-options", "-gv", "base-index"],
        capture_output=True,
        env=clean_env(),
        check=False,
    )
    try:
        return int(out.stdout.strip() or b"0")
    except ValueError:
        return 0


def handle(real: str, args: list[str], source: Source) -> int:
    parsed = targv.parse(args)
    cmd = parsed.canonical
    if cmd == "new-session":
        name = parsed.option("s")
        if name is None:
            raise ShimError("new-session without -s: paneseal cannot tell which project it is")
        env, after = source.session(name, parsed)
        if not env and not after:
            exec_real(real, args)
        lines = [quoting.command([parsed.command or cmd, *parsed.args, *quoting.env_options(env)])]
        for var, value in sorted(after.items()):
            if value is None:
                lines.append(quoting.command(["set-environment", "-t", name, "-r", var]))
            else:
                lines.append(quoting.command(["set-environment", "-t", name, var, value]))
        return run_via_stdin(real, parsed, lines)
    if cmd in ("new-window", "split-window"):
        target = targv.split_target(parsed.option("t"))
        if target is not None and target[1].isdigit():
            session, window = target
            position = int(window) - base_index(real, parsed)
            env = source.window(session, position, parsed)
            if env:
                line = quoting.command(
                    [parsed.command or cmd, *quoting.env_options(env), *parsed.args]
                )
                return run_via_stdin(real, parsed, [line])
        exec_real(real, args)
    if parsed.command in targv.ATTACH:
        source.done(parsed)
    exec_real(real, args)


def stop_tmuxinator_script() -> None:
    """Fail closed: tmuxinator's script runs on after a failed tmux call (it has no
    ``set -e``) and would type pane commands into whatever ``NAME:0`` matches.  Stop it."""
    ppid = os.getppid()
    try:
        cmdline = Path(f"/proc/{ppid}/cmdline").read_bytes()
    except OSError:
        return
    if SCRIPT_MARK in cmdline:
        os.kill(ppid, signal.SIGTERM)


class BrokerSource:
    """Values from ``paneseal start``'s broker, found through the environment."""

    def __init__(self, path: str, token: str) -> None:
        self.path = path
        self.token = token

    def _ask(self, request: dict[str, object]) -> dict[str, object]:
        request["token"] = self.token
        try:
            return ask(self.path, request)
        except OSError as exc:
            raise ShimError(f"paneseal's broker is gone ({exc.strerror or exc})") from None

    def session(
        self, name: str, parsed: targv.TmuxArgv
    ) -> tuple[dict[str, str], dict[str, str | None]]:
        reply = self._ask({"op": "session", "session": name})
        env = reply.get("env")
        after = reply.get("after")
        assert isinstance(env, dict) and isinstance(after, dict)  # noqa: S101 - our protocol
        return env, after

    def window(self, session: str, position: int, parsed: targv.TmuxArgv) -> dict[str, str]:
        reply = self._ask({"op": "window", "session": session, "position": position})
        env = reply.get("env")
        return env if isinstance(env, dict) else {}

    def done(self, parsed: targv.TmuxArgv) -> None:
        with contextlib.suppress(OSError, BrokerRefused):
            ask(self.path, {"op": "done", "token": self.token}, timeout=2)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"paneseal: error: {message}\n")
    sys.stderr.flush()
    stop_tmuxinator_script()
    sys.exit(1)


def run(real: str, args: list[str], source: Source) -> NoReturn:
    try:
        rc = handle(real, args, source)
    except (ShimError, BrokerRefused) as exc:
        _fail(str(exc))
    sys.exit(rc)


def delegated(real: str, args: list[str]) -> NoReturn:
    """Called by the generated ``sh`` front-end under ``paneseal start``."""
    path = os.environ.get("PANESEAL_BROKER", "")
    token = os.environ.get("PANESEAL_TOKEN", "")
    if not path or not token:
        exec_real(real, args)
    run(real, args, BrokerSource(path, token))


def find_real_tmux(name: str = "tmux", env: Mapping[str, str] | None = None) -> str:
    """The first ``name`` on PATH that is not a paneseal shim."""
    env = os.environ if env is None else env
    me = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    for entry in env.get("PATH", os.defpath).split(os.pathsep):
        if not entry:
            continue
        candidate = Path(entry) / name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        resolved = candidate.resolve()
        if me is not None and resolved == me:
            continue
        try:
            head = resolved.read_bytes()[:512]
        except OSError:
            continue
        if b"paneseal" in head and (head.startswith(b"#!") or b"paneseal.tmux" in head):
            continue  # a shim of ours (generated front-end or console script)
        return str(candidate)
    raise ShimError(f"no real {name} found on PATH (install it: apt-get install tmux)")


def main() -> NoReturn:
    """``paneseal-tmux``: a drop-in ``tmux_command`` for plain ``tmuxinator start``."""
    args = sys.argv[1:]
    try:
        real = find_real_tmux()
    except ShimError as exc:
        _fail(str(exc))
    parsed = targv.parse(args)
    if not (
        parsed.command in targv.NEW_SESSION
        or parsed.command in targv.NEW_PANE
        or parsed.command in targv.ATTACH
    ):
        exec_real(real, args)
    path = os.environ.get("PANESEAL_BROKER", "")
    token = os.environ.get("PANESEAL_TOKEN", "")
    if path and token:
        run(real, args, BrokerSource(path, token))
    from paneseal.tmux.optin import OptInSource

    run(real, args, OptInSource(real))
