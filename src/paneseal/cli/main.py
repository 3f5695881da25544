"""Entry point.  Sub-commands are imported only when used, so start-up stays fast."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from paneseal import __version__
from paneseal.cli import exitcodes
from paneseal.errors import PanesealError, ResolutionFailed

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("paneseal.cli.run", "run one command with the project's secrets in its environment"),
    "env": ("paneseal.cli.env", "print assignments of the secrets for eval/source"),
    "check": ("paneseal.cli.check", "resolve every secret and report, never showing values"),
    "store": ("paneseal.cli.store", "manage the embedded encrypted store"),
    "start": ("paneseal.cli.start", "start a tmuxinator project with its secrets delivered"),
    "stop": ("paneseal.cli.stop", "stop a tmuxinator project and clean up after paneseal"),
    "log": ("paneseal.cli.log", "show or verify the secret access log"),
    "review": ("paneseal.cli.review", "periodic review of secret use per project"),
    "scan": ("paneseal.cli.scan", "find hard-coded secrets in tmuxinator projects"),
    "migrate": ("paneseal.cli.migrate", "move hard-coded secrets of a project into a store"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _) in COMMANDS.items() if _available(mod)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _ = COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        cmd = getattr(module, "command", None)
        return cmd if isinstance(cmd, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paneseal")
@click.option("-v", "--verbose", count=True, help="more diagnostics on stderr (never values)")
def cli(verbose: int) -> None:
    """Deliver secrets to tmuxinator panes by reference, and nowhere else."""
    if verbose:
        import logging  # only when asked: start-up cost matters in every pane

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="paneseal: %(levelname)s: %(message)s",
            stream=sys.stderr,
        )


def report_error(exc: PanesealError) -> None:
    click.echo(f"paneseal: error: {exc}", err=True)
    if isinstance(exc, ResolutionFailed):
        for line in exc.report_lines():
            click.echo(f"  {line}", err=True)


def main(argv: list[str] | None = None) -> Any:
    try:
        rv = cli.main(args=argv, prog_name="paneseal", standalone_mode=False)
    except PanesealError as exc:
        report_error(exc)
        sys.exit(exitcodes.code_for(exc))
    except click.exceptions.Abort:
        click.echo("paneseal: aborted", err=True)
        sys.exit(exitcodes.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exitcodes.USAGE if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("paneseal: interrupted", err=True)
        sys.exit(exitcodes.INTERRUPTED)
    except BrokenPipeError:
        sys.exit(exitcodes.OK)
    sys.exit(rv if isinstance(rv, int) else 0)
