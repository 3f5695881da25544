"""``paneseal start``: resolve a project's secrets, then run tmuxinator with them delivered."""

from __future__ import annotations

import os
import sys

import click

from paneseal.errors import UsageError


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("project_name", required=False)
@click.option(
    "-p",
    "--project-config",
    "project_path",
    type=click.Path(dir_okay=False),
    help="path of the project file (like tmuxinator -p)",
)
@click.option("--attach/--no-attach", default=True, help="attach to the session (default)")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def command(
    project_name: str | None, project_path: str | None, attach: bool, extra: tuple[str, ...]
) -> None:
    """Start PROJECT with tmuxinator; its secrets reach exactly the panes that need them.

    Arguments after -- go to tmuxinator (e.g. -- -n other key=value).
    """
    from paneseal.config import load_project
    from paneseal.launch import (
        Launch,
        TmuxSetup,
        build_delivery,
        bypass_warnings,
        project_requests,
        real_tmux,
        resolve_for_start,
        session_exists,
        session_name,
        tmuxinator_path,
    )
    from paneseal.tmux.plan import Delivery

    if project_name is None and project_path is None:
        raise UsageError("name a project or pass -p PATH", hint="paneseal start PROJECT")
    project = load_project(project_name, path=project_path)
    tmuxinator = tmuxinator_path()
    setup = TmuxSetup.of(project)
    real = real_tmux(setup)
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
        import subprocess

        argv = launch.tmuxinator_argv()
        stdin = None if attach and sys.stdin.isatty() else subprocess.DEVNULL
        sys.exit(subprocess.run(argv, stdin=stdin, check=False).returncode)

    def resolve() -> Delivery:
        from paneseal import audit

        resolution = resolve_for_start(project_requests(project), project)
        for failure in resolution.warnings:
            click.echo(f"paneseal: warning: optional secret left unset: {failure.line()}", err=True)
        ctx = audit.AccessContext("start", str(project.path), session)
        audit.record(ctx, resolution, delivered=True)
        return build_delivery(resolution)

    rc = launch.run(resolve, stdin_tty=sys.stdin.isatty(), overlap=not project.has_erb)
    if rc != 0:
        click.echo(f"paneseal: error: tmuxinator exited with status {rc}", err=True)
    # Everything is delivered, recorded and cleaned up: skip the interpreter's teardown of
    # every imported module (~10 ms, a measurable share of a start; see bench/bench_start.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc if rc >= 0 else 128 - rc)
