"""``paneseal check``: resolve everything, print a status table, never a value."""

from __future__ import annotations

import click

from paneseal.cli.common import load, project_options
from paneseal.cli.exitcodes import code_for
from paneseal.errors import ResolutionFailed


@click.command()
@click.argument("project", required=False)
@project_options
def command(project: str | None, project_name: str | None, project_path: str | None) -> int:
    """Resolve every secret of PROJECT (all windows) and report NAME / REF / PROVIDER / STATUS."""
    from paneseal import audit
    from paneseal.resolve import project_requests, resolve_with_settings

    proj = load(project or project_name, project_path)
    if proj is None:
        from paneseal.config import load_project

        proj = load_project(None)
    requests = project_requests(proj)
    resolution = resolve_with_settings(requests, proj)
    audit.record(audit.AccessContext("check", str(proj.path)), resolution, delivered=False)
    rows = [("NAME", "SCOPE", "REFERENCE", "PROVIDER", "STATUS")]
    for o in resolution.outcomes:
        scope = o.request.scope
        if o.request.window is not None:
            wname = proj.windows[o.request.window].name
            scope = f"window {wname}"
        if o.error is None:
            status = "ok"
        else:
            kind = getattr(o.error, "kind", "reference")
            reason = getattr(o.error, "reason", str(o.error))
            status = f"{'WARN (optional)' if o.request.optional else 'FAILED'}: {kind}: {reason}"
        rows.append((o.request.name, scope, str(o.request.ref), o.provider, status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        click.echo("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:4])) + "  " + r[4])
    failures = resolution.failures
    if failures:
        n = len(failures)
        click.echo(f"paneseal: {n} required secret{'s' if n != 1 else ''} failed", err=True)
        return code_for(ResolutionFailed(failures))
    return 0
