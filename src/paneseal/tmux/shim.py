"""The ``tmux`` shim tmuxinator runs instead of tmux.

Every call goes straight to the real tmux (``execve``, with paneseal's own variables taken
out of the environment so nothing of ours reaches tmux's global environment), except:

* ``new-session``: becomes ``tmux [globals] start-server ; source-file -`` and the original
  command, plus ``-e NAME=VALUE`` for each secret, is written to that client's stdin.  The
  values are in no argv, and not in the environment of tmuxinator, its shell or any tmux.
* ``new-window`` / ``split-window`` aimed at a window that has window-level secrets: the
  same, with ``-e`` for that window's secrets only (tmux gives ``-e`` to that pane alone).
* ``attach-session`` / ``switch-client``: tells the broker the script is done, then execs.

Two ways in: ``paneseal.tmux.relay``, which runs ``handle()`` inside ``paneseal start`` for
the calls its per-run ``sh`` front-end hands over, and ``main()``, the ``paneseal-tmux``
command for the opt-in ``tmux_command: paneseal-tmux`` (the shim resolves the project
itself, or asks the broker of a ``paneseal start`` it runs under).  This
module is a program entry point, so it may print to stderr and exit.  It imports only what
Python has loaded already plus C modules: it runs on tmuxinator's critical path.
"""

from __future__ import annotations

import os
import sys

from paneseal.tmux import argv as targv
from paneseal.tmux import quoting
from paneseal.tmux.wire import BrokerRefused, ask

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; mypy reads this block anyway
    from collections.abc import Callable, Mapping
    from typing import NoReturn

    # runs tmux with argv and stdin data: (exit code, stdout, stderr)
    Runner = Callable[[list[str], bytes], tuple[int, bytes, bytes]]
    Result = tuple[int, bytes, bytes] | None

OWN_VARS = ("PANESEAL_BROKER", "PANESEAL_TOKEN")
SCRIPT_MARK = b"# Run on_project_start command."
Env = dict[str, str]
After = dict[str, "str | None"]


class ShimError(Exception):
    """Delivery is impossible: tmuxinator's script must stop here."""


class Source:
    """Where the values come from (``paneseal start``'s broker, or the opt-in)."""

    def session(self, name: str, parsed: targv.TmuxArgv) -> tuple[Env, After]:
        raise NotImplementedError

    def base_index(self, name: str, base: int) -> None:
        """The shim learnt the server's base-index while creating the session."""

    def window(
        self, session: str, index: int, real: str, parsed: targv.TmuxArgv, runner: Runner | None
    ) -> Env:
        raise NotImplementedError

    def done(self, parsed: targv.TmuxArgv) -> None:
        raise NotImplementedError


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k not in OWN_VARS}


def exec_real(real: str, args: list[str]) -> NoReturn:
    sys.stdout.flush()
    os.execve(real, [real, *args], clean_env())  # noqa: S606 - argv passed as given


def _stdin_pipe(data: bytes) -> int:
    """A pipe already holding ``data`` (a writer child only if it is larger than a pipe)."""
    import fcntl

    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, max(len(data) + 4096, 65536))
        fits = True
    except OSError:
        fits = len(data) < 60000
    if fits:
        _write_all(w, data)
        os.close(w)
        return r
    if os.fork() == 0:  # pragma: no cover - only for values larger than pipe-max-size
        os.close(r)
        _write_all(w, data)
        os._exit(0)
    os.close(w)
    return r


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def source_file_argv(real: str, parsed: targv.TmuxArgv) -> list[str]:
    return [real, *parsed.globals, "start-server", ";", "source-file", "-"]


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def run_forked(argv: list[str], data: bytes) -> tuple[int, bytes, bytes]:
    """Run tmux with ``data`` on its stdin; (exit code, stdout, stderr).  The shim's runner:
    a plain fork and exec, because ``subprocess`` would cost the shim its start-up time."""
    fd = _stdin_pipe(data)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.dup2(fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for f in (fd, out_r, out_w, err_r, err_w):
            os.close(f)
        os.execve(argv[0], argv, clean_env())  # noqa: S606
    for f in (fd, out_w, err_w):
        os.close(f)
    out = _read_all(out_r)  # tmux writes little: reading one pipe after the other is safe
    err = _read_all(err_r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out, err


def run_via_stdin(
    real: str, parsed: targv.TmuxArgv, lines: list[str], runner: Runner | None = None
) -> tuple[int, bytes, bytes]:
    """Run commands through ``source-file -`` so their arguments stay out of every argv."""
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    return (runner or run_forked)(source_file_argv(real, parsed), data)


# tmuxinator's base-index probe starts a server that exits (no sessions) just as
# new-session connects: tmux then reports this, and nothing was created.  Try again.
_RACE = b"server exited unexpectedly"


def query_base_index(real: str, parsed: targv.TmuxArgv, runner: Runner | None = None) -> int:
    rc, out, _err = run_via_stdin(real, parsed, ["show-options -gv base-index"], runner)
    text = out.strip()
    return int(text) if rc == 0 and text.isdigit() else 0


BASE_MARK = "paneseal-base-index:"


def handle(real: str, args: list[str], source: Source, runner: Runner | None = None) -> Result:
    """Deliver what this call needs; (exit code, stdout, stderr) of the tmux run for it,
    or None: the call carries no secret, run the real tmux with ``args`` as they are."""
    parsed = targv.parse(args)
    cmd = parsed.canonical
    if cmd == "new-session":
        name = parsed.option("s")
        if name is None:
            raise ShimError("new-session without -s: paneseal cannot tell which project it is")
        env, after = source.session(name, parsed)
        lines = [quoting.command([parsed.command or cmd, *parsed.args, *quoting.env_options(env)])]
        for var, value in sorted(after.items()):
            if value is None:
                lines.append(quoting.command(["set-environment", "-t", name, "-r", var]))
            else:
                lines.append(quoting.command(["set-environment", "-t", name, var, value]))
        # learn the base-index (as tmuxinator reads it: -g) now, sparing later calls a query
        lines.append(f"display-message -p {quoting.quote(BASE_MARK)}")
        lines.append("show-options -gv base-index")
        for _attempt in range(3):
            rc, out, err = run_via_stdin(real, parsed, lines, runner)
            if rc == 0 or _RACE not in err:
                break
        text, mark, rest = out.partition(BASE_MARK.encode())
        if mark:
            base = rest.split()[0] if rest.split() else b""
            if base.isdigit():
                source.base_index(name, int(base))
        return rc, text, err
    if cmd in ("new-window", "split-window"):
        target = targv.split_target(parsed.option("t"))
        if target is not None and target[1].isdigit():
            session, window = target
            env = source.window(session, int(window), real, parsed, runner)
            if env:
                line = quoting.command(
                    [parsed.command or cmd, *quoting.env_options(env), *parsed.args]
                )
                return run_via_stdin(real, parsed, [line], runner)
        return None
    if cmd in ("attach-session", "switch-client"):
        source.done(parsed)
    return None


def stop_tmuxinator_script() -> None:
    """Fail closed: tmuxinator's script runs on after a failed tmux call (it has no
    ``set -e``) and would type pane commands into whatever ``NAME:0`` matches.  Stop it."""
    ppid = os.getppid()
    try:
        with open(f"/proc/{ppid}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except OSError:
        return
    if SCRIPT_MARK in cmdline:
        import signal

        os.kill(ppid, signal.SIGTERM)


class BrokerSource(Source):
    """Values from ``paneseal start``'s broker, found through the environment."""

    def __init__(self, path: str, token: str) -> None:
        self.path = path
        self.token = token

    def _ask(self, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        try:
            return ask(self.path, [("token", self.token), *items])
        except OSError as exc:
            raise ShimError(f"paneseal's broker is gone ({exc.strerror or exc})") from None

    def session(self, name: str, parsed: targv.TmuxArgv) -> tuple[Env, After]:
        env: Env = {}
        after: After = {}
        for kind, item in self._ask([("op", "session"), ("session", name)]):
            key, _, value = item.partition("=")
            if kind == "e":
                env[key] = value
            elif kind == "s":
                after[key] = value
            elif kind == "r":
                after[item] = None
        return env, after

    def base_index(self, name: str, base: int) -> None:
        self._ask([("op", "base"), ("session", name), ("base", str(base))])

    def window(
        self, session: str, index: int, real: str, parsed: targv.TmuxArgv, runner: Runner | None
    ) -> Env:
        request = [("op", "window"), ("session", session), ("index", str(index))]
        try:
            items = self._ask(request)
        except BrokerRefused as exc:
            if str(exc) != "need-base":
                raise
            position = index - query_base_index(real, parsed, runner)
            items = self._ask([*request, ("position", str(position))])
        return dict(item.partition("=")[::2] for kind, item in items if kind == "e")

    def done(self, parsed: targv.TmuxArgv) -> None:
        try:
            ask(self.path, [("token", self.token), ("op", "done")], timeout=2)
        except (OSError, BrokerRefused):
            return


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"paneseal: error: {message}\n")
    sys.stderr.flush()
    stop_tmuxinator_script()
    sys.exit(1)


def run(real: str, args: list[str], source: Source) -> NoReturn:
    try:
        result = handle(real, args, source)
    except (ShimError, BrokerRefused) as exc:
        _fail(str(exc))
    if result is None:
        exec_real(real, args)
    rc, out, err = result
    sys.stderr.buffer.write(err)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.exit(rc)


def _is_shim(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return True
    return head.startswith(b"#!") and b"paneseal" in head


def find_real_tmux(name: str = "tmux", env: Mapping[str, str] | None = None) -> str:
    """The first ``name`` on PATH that is not a paneseal shim."""
    env = os.environ if env is None else env
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else None
    for entry in env.get("PATH", os.defpath).split(os.pathsep):
        if not entry:
            continue
        candidate = os.path.join(entry, name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        resolved = os.path.realpath(candidate)
        if resolved == me or _is_shim(resolved):
            continue
        return candidate
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
