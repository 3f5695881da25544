"""``paneseal scan``: report hard-coded secrets; exit 0 clean, 1 findings, 2 usage errors."""

from __future__ import annotations

from pathlib import Path

import click

from paneseal.errors import UsageError


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="output format",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file of accepted findings (salted hashes only)",
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="write every current finding into --baseline and exit 0",
)
def command(paths: tuple[Path, ...], fmt: str, baseline: Path | None, update_baseline: bool) -> int:
    """Find hard-coded secrets in tmuxinator projects (or any text files).

    With no PATH, every project tmuxinator would find is scanned.  A directory is walked.
    Silence one line with a '# paneseal:allow' comment on it.
    """
    from paneseal.config import all_projects
    from paneseal.scan import default_salt
    from paneseal.scan.baseline import Baseline
    from paneseal.scan.formats import RENDERERS
    from paneseal.scan.scanner import Finding, scan_file, walk

    if update_baseline and baseline is None:
        raise UsageError("--update-baseline needs --baseline FILE")
    if baseline is not None and not update_baseline and not baseline.exists():
        raise UsageError(
            f"baseline file {baseline} does not exist",
            hint="create it with: paneseal scan --baseline FILE --update-baseline",
        )
    base = Baseline.load(baseline, create=update_baseline) if baseline else None
    salt = base.salt if base else default_salt()
    targets = list(paths) if paths else all_projects()
    findings: list[Finding] = []
    files = 0
    unreadable = 0
    for path in walk(targets):
        try:
            found = scan_file(path, salt)
        except OSError as exc:
            click.echo(f"paneseal: error: cannot read {path}: {exc.strerror}", err=True)
            unreadable += 1
            continue
        files += 1
        findings.extend(found)
    baselined = 0
    if base is not None:
        if update_baseline:
            base.replace(findings)
            base.save()
            click.echo(
                f"paneseal: baseline {baseline} now accepts {len(base.entries)} finding(s)",
                err=True,
            )
            return 0 if not unreadable else 2
        kept = [f for f in findings if f not in base]
        baselined = len(findings) - len(kept)
        findings = kept
    click.echo(RENDERERS[fmt](findings, files, baselined), nl=False)
    if unreadable:
        return 2
    return 1 if findings else 0
