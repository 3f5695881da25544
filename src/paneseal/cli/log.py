"""``paneseal log``: read the access log as a table or JSON lines; ``log verify``: check it.

``verify`` exits 0 when every line verifies, 1 when it finds tampering (the first bad line
is named as file:line), and 7 (AuditError) when it cannot check at all (key missing,
unreadable file).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from paneseal.cli.exitcodes import FINDINGS


def _short_ts(ts: Any) -> str:
    text = str(ts or "")
    return text[:19].replace("T", " ") + "Z" if len(text) >= 19 else text


def _project_label(project: Any) -> str:
    if not project:
        return "-"
    from pathlib import Path

    return Path(str(project)).stem


def _result(rec: dict[str, Any]) -> str:
    outcome = str(rec.get("outcome") or "")
    if rec.get("error"):
        reason = str(rec.get("reason") or "")
        if len(reason) > 60:
            reason = reason[:57] + "..."
        return f"{outcome}: {rec['error']}: {reason}" if reason else f"{outcome}: {rec['error']}"
    return outcome


def table(rows: Sequence[Sequence[str]]) -> Iterable[str]:
    """Left-aligned columns; the last column is never padded."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return (
        "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1] for r in rows
    )


@click.group(invoke_without_command=True)
@click.option("--project", "project", metavar="P", help="project name or file path")
@click.option("--secret", "secret", metavar="NAME", help="secret name or reference")
@click.option("--since", "since", metavar="WHEN", help="e.g. 2h, 30m, 7d or an ISO date")
@click.option("--failed", is_flag=True, help="only failed and denied accesses")
@click.option("--json", "as_json", is_flag=True, help="one JSON record per line, as stored")
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    secret: str | None,
    since: str | None,
    failed: bool,
    as_json: bool,
) -> int:
    """Show secret access records (never values), oldest first."""
    if ctx.invoked_subcommand is not None:
        return 0
    from paneseal.audit import read

    wanted = read.Filter(
        project=project,
        secret=secret,
        since=read.parse_since(since) if since else None,
        failed=failed,
    )
    records = [r for r in read.iter_records() if wanted(r)]
    if as_json:
        out = sys.stdout
        for rec in records:
            out.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n")
        out.flush()
        return 0
    if not records:
        click.echo("no matching access records", err=True)
        return 0
    rows = [("TIME (UTC)", "EVENT", "COMMAND", "PROJECT", "NAME", "REFERENCE", "PID", "RESULT")]
    for r in records:
        rows.append(
            (
                _short_ts(r.get("ts")),
                str(r.get("event", "?")),
                str(r.get("command", "?")),
                _project_label(r.get("project")),
                str(r.get("name", "?")),
                str(r.get("ref", "?")),
                str(r.get("pid", "?")),
                _result(r),
            )
        )
    for line in table(rows):
        click.echo(line)
    return 0


@command.command("verify")
def verify() -> int:
    """Check the whole hash chain, every MAC and the head; name the first bad line."""
    from paneseal.audit import read

    result = read.verify()
    if result.problem is not None:
        click.echo(f"paneseal: log verify: FAILED at {result.problem}", err=True)
        click.echo(
            f"  {result.records} record(s) before it verified; "
            "everything from this line on is suspect",
            err=True,
        )
        return FINDINGS
    if not result.files:
        click.echo("no audit log yet: nothing to verify")
        return 0
    n = len(result.files)
    click.echo(
        f"audit log OK: {result.records} record(s) in {n} file{'s' if n != 1 else ''}, "
        "hash chain, MACs and head verified"
    )
    return 0
