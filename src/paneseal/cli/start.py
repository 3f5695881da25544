"""``paneseal start``: resolve a project's secrets, then run tmuxinator with them delivered."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from paneseal.cli.common import project_path_option
from paneseal.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from paneseal import preload


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
    from paneseal import preload

    # tmuxinator's interpreter has been loading since before click was imported
    # (paneseal.cli.entry); it starts tmuxinator only once every secret is resolved
    preloaded = preload.take()
    try:
        rc = _start(project_name, project_path, attach, extra, preloaded)
    except BaseException:
        if preloaded is not None:  # taken but never handed to a run (no-op if it was)
            preloaded.abandon()
        raise
    if rc != 0:
        click.echo(f"paneseal: error: tmuxinator exited with status {rc}", err=True)
    # Everything is delivered, recorded and cleaned up: skip the interpreter's teardown of
    # every imported module (~10 ms, a measurable share of a start; see bench/bench_start.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc if rc >= 0 else 128 - rc)


def _start(
    project_name: str | None,
    project_path: str | None,
    attach: bool,
    extra: tuple[str, ...],
    preloaded: preload.Preloaded | None,
) -> int:
    """Everything up to tmuxinator's exit; returns its exit status."""
    if project_name is None and project_path is None:
        raise UsageError("name a project or pass -p PATH", hint="paneseal start PROJECT")
    from paneseal.config import find_project, parse_project
    from paneseal.launch import (
        Launch,
        TmuxSetup,
        build_delivery,
        bypass_warnings,
        check_session_name,
        real_tmux,
        resolve_for_start,
        session_exists,
        session_name,
        tmuxinator_path,
    )
    from paneseal.resolve import project_requests
    from paneseal.tmux.plan import Delivery

    path = find_project(project_name, path=project_path)
    tmuxinator = preloaded.tmuxinator if preloaded is not None else tmuxinator_path()
    project = parse_project(path)
    setup = TmuxSetup.of(project)
    real = real_tmux(setup)
    session = session_name(project, extra)
    check_session_name(project, session)
    for line in bypass_warnings(project):
        click.echo(
            f"paneseal: warning: {line}; it bypasses paneseal (see: paneseal scan)", err=True
        )
    launch = Launch(project, setup, real, session, tuple(extra), attach, tmuxinator)
    stdin_tty = sys.stdin.isatty()
    if session is not None and session_exists(real, setup, session):
        click.echo(
            f"paneseal: session {session!r} is already running; attaching without fetching "
            "secrets again",
            err=True,
        )
        return launch.run(None, stdin_tty=stdin_tty, preloaded=preloaded)

    def resolve() -> Delivery:
        from paneseal import audit

        resolution = resolve_for_start(project_requests(project), project)
        for failure in resolution.warnings:
            click.echo(f"paneseal: warning: optional secret left unset: {failure.line()}", err=True)
        ctx = audit.AccessContext("start", str(project.path), session)
        audit.record(ctx, resolution, delivered=True)
        return build_delivery(resolution)

    return launch.run(resolve, stdin_tty=stdin_tty, preloaded=preloaded)
