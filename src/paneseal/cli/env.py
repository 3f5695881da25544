"""``paneseal env``: print assignments for ``eval "$(paneseal env ...)"``.

It writes values to stdout by design, so it refuses to write to a terminal, where they
would land in scrollback: pipe it, or pass ``--allow-tty`` if you really mean it.
"""

from __future__ import annotations

import sys

import click

from paneseal.cli.common import collect, load, project_options, resolve_requests, secret_options
from paneseal.envformat import FORMATS, render
from paneseal.errors import UsageError


@click.command()
@project_options
@secret_options
@click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATS)), default="sh", show_default=True
)
@click.option("--allow-tty", is_flag=True, help="print values even when stdout is a terminal")
def command(
    project_name: str | None,
    project_path: str | None,
    extra: tuple[str, ...],
    only: str | None,
    window: str | None,
    fmt: str,
    allow_tty: bool,
) -> None:
    """Print the declared secrets as sh, fish, dotenv or JSON assignments."""
    if sys.stdout.isatty() and not allow_tty:
        raise UsageError(
            "refusing to print secret values to a terminal (they would stay in scrollback)",
            hint='use eval "$(paneseal env ...)", a pipe, or --allow-tty',
        )
    project = load(project_name, project_path)
    requests = collect(project, extra, only, window)
    resolution = resolve_requests(requests, project, "env")
    values = {name: s.reveal() for name, s in resolution.values().items()}
    from paneseal import audit

    audit.record(
        audit.AccessContext("env", str(project.path) if project else None),
        resolution,
        delivered=True,
    )
    data = render(values, fmt).encode("utf-8", "surrogateescape")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
