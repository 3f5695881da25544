"""``paneseal review``: per project and secret, use and failures over the last N days."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from paneseal.cli.log import table


def _day(ts: Any) -> str:
    return str(ts)[:16].replace("T", " ") + "Z" if ts else "never"


@click.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def command(days: int, as_json: bool) -> int:
    """Review secret use per project: last delivery, counts, failures, unused, hard-coded."""
    from paneseal.audit import read
    from paneseal.audit import review as rv
    from paneseal.config import all_projects
    from paneseal.errors import AuditError

    report = rv.build(days, read.iter_records(), all_projects())
    try:
        result = read.verify()
    except AuditError as exc:
        report.log_verified, report.log_problem = None, str(exc)
    else:
        report.log_verified = result.ok if result.files else None
        report.log_problem = str(result.problem) if result.problem else None
    if as_json:
        sys.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n")
        return 0

    if report.log_verified:
        state = "verified"
    elif report.log_verified is None:
        state = f"not verified ({report.log_problem or 'no log yet'})"
    else:
        state = f"FAILED verification at {report.log_problem}"
    click.echo(f"Secret access review, last {days} days (since {report.since})")
    click.echo(f"audit log: {report.log_records} record(s), {state}")
    click.echo("")
    rows = [
        (
            "PROJECT",
            "SECRET",
            "REFERENCE",
            "LAST DELIVERED",
            f"DELIVERED ({days}d)",
            f"FAILURES ({days}d)",
            "STATUS",
        )
    ]
    for s in report.secrets:
        rows.append(
            (
                Path(s.project).stem if s.project else rv.AD_HOC,
                s.name,
                s.ref,
                _day(s.last_delivered),
                str(s.delivered),
                str(s.failures),
                s.status
                + (
                    f" (last: {s.last_failure['error']})"
                    if s.last_failure and s.last_failure.get("error")
                    else ""
                ),
            )
        )
    if len(rows) == 1:
        click.echo("no secrets declared and no access recorded")
    else:
        for line in table(rows):
            click.echo(line)
    click.echo("")
    prows = [("PROJECT", "FILE", "SECRETS DECLARED", "HARD-CODED VALUES")]
    for p in report.projects:
        if p.problem:
            hard = f"unreadable: {p.problem}"
        elif p.hardcoded is None:
            hard = f"scanner {p.scanner}"
        else:
            hard = str(p.hardcoded)
            if p.hardcoded:
                hard += f" ({', '.join(p.rules)}; run 'paneseal scan {p.file}')"
        prows.append((p.name, p.file, str(p.declared), hard))
    if len(prows) == 1:
        click.echo("no tmuxinator projects found")
    else:
        for line in table(prows):
            click.echo(line)
    unused = [s for s in report.secrets if s.declared and s.delivered == 0]
    if unused:
        click.echo("")
        click.echo(
            f"{len(unused)} declared secret(s) not delivered in {days} days: "
            "consider removing them from the project or revoking them"
        )
    return 0
