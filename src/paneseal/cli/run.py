"""``paneseal run``: exec a command with exactly the declared secrets added.

paneseal *becomes* the command (execve), so signals reach it exactly once, its exit code is
the command's own, and no paneseal process lingers holding values.
"""

from __future__ import annotations

import os
import sys

import click

from paneseal.cli.common import collect, load, project_options, resolve_requests, secret_options
from paneseal.errors import UsageError

PRISTINE_BASE = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "SHELL", "TZ")


@click.command(context_settings={"ignore_unknown_options": False})
@project_options
@secret_options
@click.option("--pristine", is_flag=True, help="start from a minimal environment (PATH, HOME, ...)")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def command(
    project_name: str | None,
    project_path: str | None,
    extra: tuple[str, ...],
    only: str | None,
    window: str | None,
    pristine: bool,
    cmd: tuple[str, ...],
) -> None:
    """Run CMD with the declared secrets in its environment (values never in argv)."""
    if not cmd:
        raise UsageError("no command given", hint="paneseal run [OPTIONS] -- CMD [ARG...]")
    project = load(project_name, project_path)
    requests = collect(project, extra, only, window)
    resolution = resolve_requests(requests, project, "run")
    if pristine:
        env = {k: os.environ[k] for k in PRISTINE_BASE if k in os.environ}
    else:
        env = dict(os.environ)
    for name, secret in resolution.values().items():
        env[name] = secret.reveal()
    from paneseal import audit

    audit.record(
        audit.AccessContext("run", str(project.path) if project else None),
        resolution,
        delivered=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(cmd[0], list(cmd), env)  # noqa: S606 - no shell: argv as given
    except FileNotFoundError:
        click.echo(f"paneseal: error: command not found: {cmd[0]}", err=True)
        sys.exit(127)
    except PermissionError:
        click.echo(f"paneseal: error: permission denied: {cmd[0]}", err=True)
        sys.exit(126)
