"""``paneseal start``: resolve a project's secrets, then run tmuxinator with them delivered."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import click

from paneseal.cli.common import project_path_option
from paneseal.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from paneseal.launch import Run


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("project_name", required=False)
@project_path_option
@click.option("--attach/--no-attach", default=True, help="attach to the session (default)")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def command(
    project_name: str | None, project_path: str | None, attach: bool, extra: tuple[str, ...]
) -> None:
    """Start PROJECT with tmuxinator; its secrets reach exactly the panes that need them.

    Arguments after -- go to tmuxinator (e.g. -- -n other key=value).
    """
    if project_name is None and project_path is None:
        raise UsageError("name a project or pass -p PATH", hint="paneseal start PROJECT")
    # Critical path: tmuxinator (Ruby) takes ~200 ms to reach its first tmux call, and the
    # shim holds that call until the secrets are resolved, so spawn it as soon as its argv
    # and the shim are known; parsing, checks and resolution run while it loads.
    from paneseal.config import find_project
    from paneseal.launch import Run, early_program, real_tmux, tmuxinator_argv, tmuxinator_path

    path = find_project(project_name, path=project_path)
    tmuxinator = tmuxinator_path()
    stdin_tty = sys.stdin.isatty()
    stdin = None if attach and stdin_tty else subprocess.DEVNULL
    early: Run | None = None
    program = early_program(path)
    if program is not None:
        from paneseal.launch import TmuxSetup

        early = Run.create(program, real_tmux(TmuxSetup(program)))
        try:
            early.spawn(tmuxinator_argv(path, attach, extra, tmuxinator), stdin)
        except BaseException:
            early.fail()
            early.close()
            raise
    try:
        rc = _start(path, tmuxinator, attach, extra, stdin_tty, early)
    except BaseException:
        if early is not None:
            early.fail()
            early.close()
        raise
    if rc != 0:
        click.echo(f"paneseal: error: tmuxinator exited with status {rc}", err=True)
    # Everything is delivered, recorded and cleaned up: skip the interpreter's teardown of
    # every imported module (~10 ms, a measurable share of a start; see bench/bench_start.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc if rc >= 0 else 128 - rc)


def _start(
    path: Path,
    tmuxinator: str,
    attach: bool,
    extra: tuple[str, ...],
    stdin_tty: bool,
    early: Run | None,
) -> int:
    """Everything after the (possibly early) spawn; returns tmuxinator's exit status."""
    from paneseal.config import parse_project
    from paneseal.launch import (
        Launch,
        TmuxSetup,
        build_delivery,
        bypass_warnings,
        real_tmux,
        resolve_for_start,
        session_exists,
        session_name,
    )
    from paneseal.resolve import project_requests
    from paneseal.tmux.plan import Delivery

    project = parse_project(path)
    setup = TmuxSetup.of(project)
    real = real_tmux(setup)
    if early is not None and (setup.program != early.program or project.has_erb):
        # the raw-text guess was wrong: nothing got past the gate; start over properly
        early.fail()
        early.close()
        early = None
    session = session_name(project, extra)
    for line in bypass_warnings(project):
        click.echo(
            f"paneseal: warning: {line}; it bypasses paneseal (see: paneseal scan)", err=True
        )
    launch = Launch(project, setup, real, session, tuple(extra), attach, tmuxinator)
    if session is not None and session_exists(real, setup, session):
        click.echo(
            f"paneseal: session {session!r} is already running; attaching without fetching "
            "secrets again",
            err=True,
        )
        if early is not None:
            try:
                early.nothing_to_deliver()
                return early.wait()
            finally:
                early.close()
        argv = launch.tmuxinator_argv()
        return subprocess.run(argv, stdin=launch.stdin(stdin_tty), check=False).returncode

    def resolve() -> Delivery:
        from paneseal import audit

        resolution = resolve_for_start(project_requests(project), project)
        for failure in resolution.warnings:
            click.echo(f"paneseal: warning: optional secret left unset: {failure.line()}", err=True)
        ctx = audit.AccessContext("start", str(project.path), session)
        audit.record(ctx, resolution, delivered=True)
        return build_delivery(resolution)

    return launch.run(resolve, stdin_tty=stdin_tty, overlap=not project.has_erb, started=early)
