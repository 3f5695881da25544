"""Start and stop a tmuxinator project with its secrets delivered (``paneseal start/stop``).

paneseal runs the real ``tmuxinator start`` with a per-run shim directory first on its
``PATH``, and only once every secret is resolved (fail closed: if one fails, tmuxinator's
preloaded interpreter (``paneseal.preload``) is stopped before tmuxinator's command line
ever ran, so no hook runs and no session or server is created).  The shim (compiled from
``tmux/shim.c``, else ``tmux/shim.sh``) hands the calls that create the session and the
windows with their own secrets to this process (``tmux/relay.py``), which holds the values.
tmuxinator, its shell and its hooks only ever see the run directory and a random token.
See docs/delivery.md.  Imports are lazy where they can be.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from paneseal import paths
from paneseal.errors import TmuxError
from paneseal.tmux import argv as targv
from paneseal.tmux.plan import Delivery

if TYPE_CHECKING:  # pragma: no cover
    from paneseal.config import Project
    from paneseal.preload import Preloaded
    from paneseal.resolve import Request, Resolution
    from paneseal.tmux.broker import Broker
    from paneseal.tmux.relay import Relay

OPT_IN = "paneseal-tmux"

# ---------------------------------------------------------------------- requests


def resolve_for_start(requests: Sequence[Request], project: Project) -> Resolution:
    """Resolve under the project's provider settings; raise ResolutionFailed on any failure.
    Optional secrets that failed are left out (the caller warns)."""
    from paneseal import audit
    from paneseal.resolve import resolve_with_settings

    resolution = resolve_with_settings(requests, project)
    audit.record(audit.AccessContext("start", str(project.path)), resolution, delivered=False)
    resolution.raise_if_failed()
    return resolution


def build_delivery(resolution: Resolution) -> Delivery:
    delivery = Delivery()
    for outcome in resolution.outcomes:
        if outcome.secret is None:
            continue
        req = outcome.request
        if req.scope == "window" and req.window is not None:
            delivery.windows.setdefault(req.window, {})[req.name] = outcome.secret.reveal()
        else:
            delivery.project[req.name] = outcome.secret.reveal()
    return delivery


# ---------------------------------------------------------------------- tmux side


@dataclass(frozen=True)
class TmuxSetup:
    """How tmuxinator will call tmux for this project (``tmux_command`` + options + socket)."""

    program: str = "tmux"
    extra: tuple[str, ...] = ()  # words after the program in tmux_command
    options: tuple[str, ...] = ()
    socket_name: str | None = None
    socket_path: str | None = None

    @classmethod
    def of(cls, project: Project) -> TmuxSetup:
        s = project.settings
        words = shlex.split(s.get("tmux_command") or "tmux")
        opts = s.get("cli_args") or s.get("tmux_options") or ""
        socket_path = s.get("socket_path") or None
        return cls(
            words[0] if words else "tmux",
            tuple(words[1:]),
            tuple(shlex.split(opts)),
            None if socket_path else (s.get("socket_name") or None),
            socket_path,
        )

    def global_args(self) -> list[str]:
        args = [*self.extra, *self.options]
        if self.socket_path:
            args += ["-S", os.path.expanduser(self.socket_path)]
        elif self.socket_name:
            args += ["-L", self.socket_name]
        return args


def real_tmux(setup: TmuxSetup, env: Mapping[str, str] | None = None) -> str:
    """The program the shim stands in for (``paneseal-tmux`` stands in for ``tmux``)."""
    env = os.environ if env is None else env
    if "/" in setup.program:
        raise TmuxError(
            f"tmux_command {setup.program!r} is a path, so paneseal cannot put its shim in "
            "front of it",
            hint="use a command name found on PATH, e.g. tmux_command: tmux",
        )
    name = "tmux" if setup.program == OPT_IN else setup.program
    from paneseal.tmux.shim import ShimError, find_real_tmux

    try:
        return find_real_tmux(name, env)
    except ShimError as exc:
        raise TmuxError(str(exc)) from None


def session_exists(real: str, setup: TmuxSetup, session: str) -> bool:
    r = subprocess.run(
        [real, *setup.global_args(), "has-session", "-t", f"={session}"],
        capture_output=True,
        check=False,
    )
    return r.returncode == 0


def tmuxinator_path() -> str:
    found = shutil.which("tmuxinator")
    if not found:
        raise TmuxError(
            "tmuxinator is not installed", hint="install it: sudo apt-get install tmuxinator"
        )
    return found


def session_name(project: Project, extra: Sequence[str]) -> str | None:
    """The session tmuxinator will create: ``-n/--name`` wins over the file's name."""
    for i, arg in enumerate(extra):
        if arg in ("-n", "--name") and i + 1 < len(extra):
            return extra[i + 1]
        if arg.startswith("--name="):
            return arg.split("=", 1)[1]
    return project.name


def check_session_name(project: Project, session: str | None) -> None:
    """tmux turns ``.`` and ``:`` in a session name into ``_``; tmuxinator then targets a
    session that does not exist and leaves a half-built one behind.  Refuse before any
    secret is fetched, instead of delivering into that half-built session."""
    if session is None or not any(c in session for c in ".:"):
        return
    from paneseal.errors import ConfigError, Location

    from_arg = session != project.name
    where = None if from_arg else Location(str(project.path), key_path="name")
    fixed = session.replace(".", "_").replace(":", "_")
    raise ConfigError(
        f"session name {session!r} contains '.' or ':', which tmux turns into '_' "
        "(tmuxinator would then fail half way)",
        where,
        hint=f"use a name without them, e.g. {'-n ' if from_arg else 'name: '}{fixed}",
    )


# ---------------------------------------------------------------------- warnings

_ERB_ENV = re.compile(r"<%=.*?ENV\s*(\[|\.fetch)", re.DOTALL)
_LITERAL_EXPORT = re.compile(
    r"""(?:^|[\s;&|'"-])(?:export\s+|set\s+-x\s+|setenv\s+)?"""
    r"""([A-Z][A-Z0-9_]*(?:PASS|PASSWORD|PWD|TOKEN|SECRET|KEY|AUTH)[A-Z0-9_]*)"""
    r"""=(?!\$|"\$|'\$|<%)([^\s'";]{4,})""",
)


def bypass_warnings(project: Project) -> list[str]:
    """Lines of the project that inline values and so escape every guarantee of start."""
    try:
        text = project.path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        if _ERB_ENV.search(line):
            out.append(f"{project.path}:{lineno}: inlines a value with ERB (<%= ENV[...] %>)")
        elif _LITERAL_EXPORT.search(line):
            out.append(f"{project.path}:{lineno}: sets a secret-looking variable to a literal")
    return out


# ---------------------------------------------------------------------- the run


@dataclass
class Launch:
    project: Project
    setup: TmuxSetup
    real: str
    session: str | None
    extra: tuple[str, ...] = ()
    attach: bool = True
    tmuxinator: str = "tmuxinator"

    def tmuxinator_argv(self) -> list[str]:
        return tmuxinator_argv(self.project.path, self.attach, self.extra, self.tmuxinator)

    def run(
        self,
        resolve: Callable[[], Delivery] | None,
        *,
        stdin_tty: bool,
        preloaded: Preloaded | None = None,
    ) -> int:
        """Resolve, then run tmuxinator behind the shim; returns tmuxinator's exit code.

        ``resolve`` fetches the values (raising on any failure); None: the session exists
        already, tmuxinator only attaches and nothing is served.  ``preloaded`` is a
        tmuxinator interpreter that has been loading all along (paneseal.preload); it only
        gets its argv, and so starts, once every value is in hand.  On any failure it is
        stopped without having run: no hook, no tmux call, no session, no server.
        """
        stdin = self.stdin(stdin_tty)
        if preloaded is not None and preloaded.terminal != (stdin is None):
            preloaded.abandon()  # guessed the terminal wrongly: start one afresh
            preloaded = None
        run = Run(preloaded)
        try:
            run.arm(self.setup.program, self.real)
            state = _write_state(self, run.workdir)
            try:
                if resolve is None:
                    run.nothing_to_deliver()
                else:
                    try:
                        delivery = resolve()
                    except BaseException:
                        run.fail()
                        raise
                    run.deliver(delivery, self.session)
                run.start(self.tmuxinator_argv(), stdin)
                return run.wait()
            finally:
                with contextlib.suppress(OSError):
                    state.unlink()
        except BaseException:
            run.fail()
            raise
        finally:
            run.close()

    def stdin(self, stdin_tty: bool) -> int | None:
        return None if (self.attach and stdin_tty) else subprocess.DEVNULL


def tmuxinator_argv(
    path: Path, attach: bool, extra: Sequence[str], tmuxinator: str = "tmuxinator"
) -> list[str]:
    """Name the project the way that makes tmuxinator find this very file."""
    argv = [tmuxinator, "start"]
    name = path.stem
    if _named_lookup_finds(path, name):
        argv.append(name)
    else:
        argv += ["-p", str(path)]
    argv.append("--attach" if attach else "--no-attach")
    argv += ["--suppress-tmux-version-warning=true", *extra]
    return argv


class Run:
    """One tmuxinator run behind the shim: private run directory, shim, broker, relay.

    ``arm()`` writes the shim; ``serve()`` sets up the broker and the relay.  tmuxinator
    starts (``start()``) only after ``deliver()`` or ``nothing_to_deliver()``, which also
    open the shim's gate; ``fail()`` stops a preloaded interpreter that never started and
    fails every call of any shim that is still around."""

    def __init__(self, preloaded: Preloaded | None = None) -> None:
        from paneseal import preload

        self.preloaded = preloaded
        self.workdir = Path(preloaded.workdir if preloaded else preload.new_workdir())
        self.token = preloaded.token if preloaded else os.urandom(16).hex()
        self.proc: subprocess.Popen[bytes] | Preloaded | None = None
        self.broker: Broker | None = None
        self.relay: Relay | None = None
        self.thread: threading.Thread | None = None
        self.real = ""

    def arm(self, program: str, real: str) -> None:
        self.real = real
        write_shim(self.workdir, program, real)
        version = subprocess.run([real, "-V"], capture_output=True, check=False)
        if version.returncode == 0 and version.stdout.count(b"\n") == 1:
            (self.workdir / "version").write_bytes(version.stdout)

    def env(self) -> dict[str, str]:
        from paneseal import preload

        return preload.run_env(str(self.workdir), self.token)

    def start(self, argv: list[str], stdin: int | None) -> None:
        preloaded, self.preloaded = self.preloaded, None
        if preloaded is not None and preloaded.go(argv):
            self.proc = preloaded
        else:  # no preload, or its interpreter died before the go: start tmuxinator plainly
            self.proc = subprocess.Popen(argv, env=self.env(), stdin=stdin)

    def serve(self) -> Broker:
        """The broker (values, checks) and the relay the shim hands its calls to."""
        if self.broker is not None:
            return self.broker
        from paneseal.tmux.broker import Broker
        from paneseal.tmux.relay import Relay

        broker = Broker(Delivery(), None, token=self.token, session=None)
        broker.targets_path = self.workdir / "targets"
        self.relay = Relay(broker, self.workdir, self.real)
        self.thread = threading.Thread(target=self.relay.serve, name="paneseal-relay", daemon=True)
        self.thread.start()
        self.broker = broker
        return broker

    def fail(self) -> None:
        if self.preloaded is not None:  # never started: it ran no tmuxinator code at all
            self.preloaded.cancel()
            self.preloaded = None
        with contextlib.suppress(OSError):  # gone already: closed, nothing can pass
            (self.workdir / "failed").touch()

    def _open_gate(self) -> None:
        (self.workdir / "ready").touch()

    def deliver(self, delivery: Delivery, session: str | None) -> None:
        broker = self.serve()
        broker.session = session
        broker.delivery = delivery
        broker.ready.set()
        self._open_gate()

    def nothing_to_deliver(self) -> None:
        """The session exists already: tmuxinator only attaches; no new-session is served."""
        broker = self.serve()
        broker.session_served = True
        (self.workdir / "targets").write_text("", encoding="utf-8")
        broker.ready.set()
        self._open_gate()

    def wait(self) -> int:
        if self.proc is None:
            raise TmuxError("tmuxinator was never started")
        with _ignoring_interrupts():
            rc = self.proc.wait()
        self._stop()
        return rc

    def _stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.relay is not None:
            self.relay.close()
        if self.thread is not None:
            self.thread.join(1)

    def close(self) -> None:
        if self.preloaded is not None:
            self.preloaded.cancel()
            self.preloaded = None
        self._stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _named_lookup_finds(path: Path, name: str) -> bool:
    from paneseal.config import find_project

    try:
        return find_project(name).resolve() == path.resolve()
    except Exception:
        return False


@contextlib.contextmanager
def _ignoring_interrupts() -> Iterator[None]:
    """Ctrl-C goes to tmuxinator (same process group); we wait for it, then clean up."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def write_shim(workdir: Path, program: str, real: str) -> Path:
    """The front-end named like tmuxinator's ``tmux_command``, in ``workdir/bin``: the
    compiled one when this machine can build it, else the ``sh`` one (same contract)."""
    from paneseal.tmux import native

    shim = workdir / "bin" / program
    binary = native.compiled_shim()
    if binary is not None:
        native.install(binary, shim, real, os.getpid())
        return shim
    here = Path(__file__).resolve().parent / "tmux"
    template = (here / "shim.sh").read_text(encoding="utf-8")
    text = (
        template.replace("@WORKDIR@", shlex.quote(str(workdir)))
        .replace("@REAL@", shlex.quote(real))
        .replace("@PANESEAL_PID@", str(os.getpid()))
    )
    shim.write_text(text, encoding="utf-8")
    shim.chmod(0o700)
    return shim


# ---------------------------------------------------------------------- state, stop


def _state_key(setup: TmuxSetup, session: str | None) -> str:
    from paneseal.tmux.optin import session_key

    parsed = targv.parse([*setup.global_args(), "x"])
    return session_key(parsed, session or "")


def _write_state(launch: Launch, workdir: Path) -> Path:
    key = _state_key(launch.setup, launch.session)
    state = paths.runtime_dir() / f"{key}.json"
    state.write_text(
        json.dumps({"pid": os.getpid(), "session": launch.session, "dir": str(workdir)})
    )
    return state


def cleanup(setup: TmuxSetup, session: str | None) -> list[str]:
    """Remove what paneseal left for ``session``: broker processes, sockets, state files."""
    done: list[str] = []
    key = _state_key(setup, session)
    base = paths.runtime_dir()
    state = base / f"{key}.json"
    sock = base / f"{key}.sock"
    if state.exists():
        try:
            info = json.loads(state.read_text())
        except (OSError, ValueError):
            info = {}
        pid = info.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _is_paneseal(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                done.append(f"stopped paneseal helper process {pid}")
        workdir = info.get("dir")
        if isinstance(workdir, str) and Path(workdir).parent == base:
            shutil.rmtree(workdir, ignore_errors=True)
        state.unlink(missing_ok=True)
        done.append(f"removed {state}")
    if sock.exists():
        sock.unlink(missing_ok=True)
        done.append(f"removed {sock}")
    return done


def _is_paneseal(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"paneseal" in cmdline


def stop_argv(project: Project, tmuxinator: str) -> tuple[list[str], dict[str, str]]:
    """``tmuxinator stop`` has no ``-p``: point TMUXINATOR_CONFIG at the file's folder."""
    env = dict(os.environ)
    name = project.path.stem
    if not _named_lookup_finds(project.path, name):
        env["TMUXINATOR_CONFIG"] = str(project.path.parent)
    return [tmuxinator, "stop", name, "--suppress-tmux-version-warning=true"], env
