"""What several commands share: choosing the project, collecting requests, resolving."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from paneseal.errors import ConfigError, Location, UsageError

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:  # pragma: no cover - keeps start-up imports small
    from paneseal.config import Project
    from paneseal.resolve import Request, Resolution


project_path_option = click.option(
    "-p",
    "--project-config",
    "project_path",
    type=click.Path(dir_okay=False),
    help="path of the project file (like tmuxinator -p)",
)


def project_options(f: F) -> F:
    f = project_path_option(f)
    f = click.option("--project", "project_name", help="tmuxinator project name")(f)
    return f


def secret_options(f: F) -> F:
    f = click.option(
        "--secret",
        "extra",
        multiple=True,
        metavar="NAME=REF",
        help="an extra secret, e.g. --secret DB_PASSWORD=store://db (repeatable)",
    )(f)
    f = click.option("--only", help="deliver only these names (comma-separated)")(f)
    f = click.option("--window", help="also take this window's secrets (name or index)")(f)
    return f


def load(project_name: str | None, project_path: str | None) -> Project | None:
    if project_name is None and project_path is None:
        return None  # no project: --secret alone never pays for importing YAML
    from paneseal.config import load_project

    return load_project(project_name, path=project_path)


def parse_extra(items: Sequence[str]) -> list[Request]:
    from paneseal.names import parse_ref_text, validate_name
    from paneseal.resolve import Request

    out: list[Request] = []
    for item in items:
        name, sep, text = item.partition("=")
        where = Location("--secret", None, name)
        if not sep:
            raise UsageError(f"--secret {item.split('=')[0]!r}: expected NAME=REF")
        validate_name(name, where)
        out.append(Request(name, parse_ref_text(text, where), scope="command"))
    return out


def _window_index(project: Project, window: str) -> int:
    for w in project.windows:
        if w.name == window or str(w.index) == window:
            return w.index
    raise ConfigError(f"no window {window!r} in the project", Location(str(project.path)))


def collect(
    project: Project | None,
    extra: Sequence[str] = (),
    only: str | None = None,
    window: str | None = None,
) -> list[Request]:
    from paneseal.resolve import Request

    requests: dict[str, Request] = {}
    if project is not None:
        for decl in project.secrets:
            requests[decl.name] = Request(decl.name, decl.ref, decl.optional, "project")
        if window is not None:
            index = _window_index(project, window)
            for decl in project.windows[index].secrets:
                requests[decl.name] = Request(decl.name, decl.ref, decl.optional, "window", index)
    for req in parse_extra(extra):
        requests[req.name] = req
    if only is not None:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        missing = [n for n in wanted if n not in requests]
        if missing:
            raise UsageError(
                f"--only names undeclared secret(s): {', '.join(missing)}",
                hint="declared: " + (", ".join(sorted(requests)) or "none"),
            )
        requests = {n: requests[n] for n in wanted}
    return list(requests.values())


def resolve_requests(
    requests: Sequence[Request], project: Project | None, command: str
) -> Resolution:
    """Resolve, warn about optional failures, record the access, fail closed."""
    from paneseal import audit
    from paneseal.resolve import resolve_with_settings

    resolution = resolve_with_settings(requests, project)
    for failure in resolution.warnings:
        click.echo(f"paneseal: warning: optional secret left unset: {failure.line()}", err=True)
    ctx = audit.AccessContext(command, str(project.path) if project else None)
    audit.record(ctx, resolution, delivered=False)
    resolution.raise_if_failed()
    return resolution
