"""``tmux_command: paneseal-tmux``: plain ``tmuxinator start`` with secrets delivered.

No paneseal process runs before tmuxinator here, so the shim does the work on
``new-session``: find the project of that session, resolve its secrets (fail closed: the
report goes to stderr, the shim exits non-zero and stops tmuxinator's script), deliver the
session's values, and, if some window has its own secrets, leave a short-lived broker child
behind for the ``new-window``/``split-window`` calls that follow.  The child serves only
that session, only our uid, and exits at ``attach``, when tmuxinator's script ends, or after
``DEADLINE`` seconds, whichever comes first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from paneseal.paths import private_dir
from paneseal.tmux import argv as targv
from paneseal.tmux.broker import Broker, BrokerRefused, ask
from paneseal.tmux.plan import Delivery
from paneseal.tmux.shim import SCRIPT_MARK, After, Env, ShimError, Source, query_base_index

if TYPE_CHECKING:  # pragma: no cover
    from paneseal.tmux.shim import Runner

DEADLINE = 300.0
OPT_IN = "paneseal-tmux"


def session_key(parsed: targv.TmuxArgv, session: str) -> str:
    """Names the state of one session on one tmux server (used by ``paneseal stop`` too)."""
    if parsed.socket_path:
        server = "S:" + os.path.abspath(parsed.socket_path)
    else:
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"  # noqa: S108 - tmux's own default
        server = f"L:{tmpdir}:{parsed.socket_name or 'default'}"
    return hashlib.sha256(f"{server}\0{session}".encode()).hexdigest()[:20]


def state_paths(key: str) -> tuple[Path, Path]:
    from paneseal import paths

    base = paths.runtime_dir()
    return base / f"{key}.sock", base / f"{key}.json"


def find_project_for(session: str) -> Path:
    """The project tmuxinator is starting as ``session``."""
    from paneseal.config import all_projects, find_project, parse_project

    explicit = os.environ.get("PANESEAL_PROJECT")
    if explicit:
        return find_project(path=explicit)
    candidates: list[Path] = []
    with contextlib.suppress(Exception):
        candidates.append(find_project(session))
    candidates += all_projects()
    for path in candidates:
        try:
            project = parse_project(path)
        except Exception:  # noqa: S112 - an unrelated broken file is not ours to judge
            continue
        name = project.name
        if name == session or (name is None and path.stem == session):
            return path
    raise ShimError(
        f"no tmuxinator project found for session {session!r} "
        "(set PANESEAL_PROJECT=/path/to/project.yml in front of tmuxinator start)"
    )


def _script_pid() -> int | None:
    ppid = os.getppid()
    try:
        if SCRIPT_MARK in Path(f"/proc/{ppid}/cmdline").read_bytes():
            return ppid
    except OSError:
        pass
    return None


class OptInSource(Source):
    def __init__(self, real: str) -> None:
        self.real = real
        self.parsed: targv.TmuxArgv | None = None

    def session(self, name: str, parsed: targv.TmuxArgv) -> tuple[Env, After]:
        from paneseal import audit
        from paneseal.config import parse_project
        from paneseal.errors import PanesealError, ResolutionFailed
        from paneseal.launch import build_delivery, resolve_for_start
        from paneseal.resolve import project_requests

        project = parse_project(find_project_for(name))
        program = (project.settings.get("tmux_command") or "").split(" ")[0]
        if os.path.basename(program) != OPT_IN and not os.environ.get("PANESEAL_PROJECT"):
            raise ShimError(
                f"{project.path} does not set tmux_command: {OPT_IN}; not delivering its "
                "secrets (set PANESEAL_PROJECT to force)"
            )
        try:
            resolution = resolve_for_start(project_requests(project), project)
            audit.record(
                audit.AccessContext("start", str(project.path), name), resolution, delivered=True
            )
        except ResolutionFailed as exc:
            lines = [str(exc), *(f"  {line}" for line in exc.report_lines())]
            raise ShimError("\n".join(lines)) from None
        except PanesealError as exc:
            raise ShimError(str(exc)) from None
        delivery = build_delivery(resolution)
        plan = delivery.session_env()
        if delivery.has_window_secrets:
            self._spawn_broker(delivery, parsed, name)
        delivery.clear()
        return plan

    def _spawn_broker(self, delivery: Delivery, parsed: targv.TmuxArgv, name: str) -> None:
        key = session_key(parsed, name)
        sock_path, state_path = state_paths(key)
        private_dir(sock_path.parent)
        script = _script_pid()
        broker = Broker(
            Delivery(dict(delivery.project), {k: dict(v) for k, v in delivery.windows.items()}),
            sock_path,
            token=None,
            session=name,
            session_served=True,
            deadline=DEADLINE,
        )
        broker.ready.set()
        self.parsed = parsed
        pid = os.fork()
        if pid == 0:  # the broker child: detach from the terminal and tmuxinator's stdio
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                state_path.write_text(json.dumps({"pid": os.getpid(), "session": name}))

                def alive() -> bool:
                    if script is None:
                        return True
                    try:
                        os.kill(script, 0)
                    except OSError:
                        return False
                    return True

                broker.serve(alive)
            finally:
                with contextlib.suppress(OSError):
                    state_path.unlink()
                os._exit(0)
        if broker.sock is not None:
            broker.sock.close()  # the child serves; the parent only delivers the session

    def _path(self, parsed: targv.TmuxArgv, session: str) -> Path | None:
        sock_path, _ = state_paths(session_key(parsed, session))
        return sock_path if sock_path.exists() else None

    def base_index(self, name: str, base: int) -> None:
        path = self._path(self.parsed, name) if self.parsed is not None else None
        if path is not None:
            with contextlib.suppress(OSError, BrokerRefused):
                ask(str(path), [("op", "base"), ("session", name), ("base", str(base))])

    def window(
        self, session: str, index: int, real: str, parsed: targv.TmuxArgv, runner: Runner | None
    ) -> Env:
        path = self._path(parsed, session)
        if path is None:
            return {}
        request = [("op", "window"), ("session", session), ("index", str(index))]
        try:
            try:
                items = ask(str(path), request)
            except BrokerRefused as exc:
                if str(exc) != "need-base":
                    raise
                position = index - query_base_index(real, parsed, runner)
                items = ask(str(path), [*request, ("position", str(position))])
        except OSError as exc:
            raise ShimError(f"paneseal's broker for {session!r} is gone ({exc})") from None
        return dict(item.partition("=")[::2] for kind, item in items if kind == "e")

    def done(self, parsed: targv.TmuxArgv) -> None:
        target = parsed.option("t")
        if not target:
            return
        path = self._path(parsed, target.split(":")[0])
        if path is not None:
            with contextlib.suppress(OSError, BrokerRefused):
                ask(str(path), [("op", "done")], timeout=2)
