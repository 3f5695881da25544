"""``paneseal migrate``: move a project's hard-coded secrets into a store, rewrite the file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click

from paneseal.errors import ConfigError, Location

if TYPE_CHECKING:
    from paneseal.migrate import Plan


def _project_path(project: str) -> Path:
    from paneseal.config import find_project

    p = Path(project)
    if p.is_file():
        return p
    return find_project(project)


def _git_tracked(path: Path) -> bool:
    git = shutil.which("git")
    if git is None:
        return False
    r = subprocess.run(
        [git, "-C", str(path.parent.resolve()), "ls-files", "--error-unmatch", "--", path.name],
        capture_output=True,
        check=False,
    )
    return r.returncode == 0


def _verify_refs(plan: Plan) -> None:
    """With a reference prefix paneseal cannot write the values: they must exist already,
    holding exactly the literals, before the literals are removed from the file."""
    from paneseal.cli.common import resolve_requests
    from paneseal.config import parse_project
    from paneseal.refs import SecretRef
    from paneseal.resolve import Request

    project = parse_project(plan.path, plan.original)
    requests = [Request(e.name, SecretRef.parse(e.ref), scope="project") for e in plan.entries]
    values = resolve_requests(requests, project, "migrate").values()
    wrong = [e.name for e in plan.entries if values[e.name].reveal() != e.value]
    if wrong:
        raise ConfigError(
            "these references do not hold the value written in the file: " + ", ".join(wrong),
            Location(str(plan.path)),
            hint="set them to the literal values first; the file was not changed",
        )


@click.command()
@click.argument("project")
@click.option(
    "--to",
    "to",
    default="store",
    show_default=True,
    metavar="store|REF-PREFIX",
    help="the embedded store, or a prefix such as vault://secret/app whose entries you create",
)
@click.option("--dry-run", is_flag=True, help="show the change (values masked); change nothing")
def command(project: str, to: str, dry_run: bool) -> int:
    """Move PROJECT's hard-coded secrets into a store and reference them instead.

    PROJECT is a tmuxinator project name or a file path.  Each literal becomes "$NAME", and
    NAME is declared in the project's secrets: block; every other byte stays as it was.
    """
    from paneseal.errors import SecretNotFound
    from paneseal.migrate import STORE, plan
    from paneseal.store import Store, atomic_write

    # a symlinked project (dotfiles) is rewritten where it really lives, never replaced by
    # a copy that would leave the secret in the link's target
    path = _project_path(project).resolve()
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not valid UTF-8", Location(str(path))) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", Location(str(path))) from None

    store = Store.default() if to == STORE else None

    def lookup(name: str) -> bytes | None:
        if store is None or not store.directory.is_dir():
            return None
        try:
            return store.get(name)
        except SecretNotFound:
            return None

    p = plan(path, text, to, lookup)
    for skip in p.skipped:
        f = skip.finding
        click.echo(
            f"paneseal: not migrated: {f.file}:{f.line}:{f.column}: {f.rule}: {f.masked} "
            f"{skip.reason}",
            err=True,
        )
    if not p.changed:
        click.echo(f"{path}: nothing to migrate")
        return 1 if p.skipped else 0
    if dry_run:
        click.echo(p.diff, nl=False)
        for e in p.entries:
            action = "reuse" if e.exists else ("store" if e.store_name else "create")
            click.echo(f"would {action}: {e.ref} (as ${e.name})")
        return 0
    if store is not None:
        for e in p.entries:
            if e.store_name and not e.exists:
                store.set(e.store_name, e.value.encode("utf-8", "surrogateescape"))
    else:
        _verify_refs(p)
    mode = path.stat().st_mode & 0o7777
    atomic_write(path, p.new_text.encode("utf-8"), mode)
    for finding, name in p.moved:
        click.echo(f"{finding.file}:{finding.line}:{finding.column}: {finding.rule} -> ${name}")
    for e in p.entries:
        click.echo(f"  secrets: {e.name}: {e.ref}")
    click.echo(f"moved {len(p.moved)} secret(s) out of {path}")
    if _git_tracked(path):
        click.echo(
            f"paneseal: warning: {path} is tracked by git: the old values stay in its history. "
            "Rotate every migrated secret.",
            err=True,
        )
    return 1 if p.skipped else 0
