"""``paneseal stop``: stop a tmuxinator project and remove what paneseal left for it."""

from __future__ import annotations

import subprocess
import sys

import click

from paneseal.cli.common import project_path_option
from paneseal.errors import UsageError


@click.command()
@click.argument("project_name", required=False)
@project_path_option
def command(project_name: str | None, project_path: str | None) -> None:
    """Run tmuxinator stop for PROJECT, then clean up paneseal's helpers for its session."""
    from paneseal.config import load_project
    from paneseal.launch import TmuxSetup, cleanup, session_name, stop_argv, tmuxinator_path

    if project_name is None and project_path is None:
        raise UsageError("name a project or pass -p PATH", hint="paneseal stop PROJECT")
    project = load_project(project_name, path=project_path)
    argv, env = stop_argv(project, tmuxinator_path())
    rc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, check=False).returncode
    for line in cleanup(TmuxSetup.of(project), session_name(project, ())):
        click.echo(f"paneseal: {line}", err=True)
    sys.exit(rc)
