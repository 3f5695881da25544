"""``paneseal store``: init / set / get / ls / rm for the embedded age store."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from paneseal.store import Store

from paneseal.errors import InvalidValue, UsageError


@click.group()
def command() -> None:
    """Manage the embedded store (age-encrypted, one file per secret)."""


def _store() -> Store:
    from paneseal.store import Store

    return Store.default()


@command.command("init")
def init() -> None:
    """Create the identity and the store directory (safe to run twice)."""
    recipient, created = _store().init()
    store = _store()
    if created:
        click.echo(f"created identity {store.identity_file} (back it up: it decrypts the store)")
    else:
        click.echo(f"identity {store.identity_file} already exists")
    click.echo(f"store: {store.directory}")
    click.echo(f"public key: {recipient}")


@command.command("set")
@click.argument("name")
@click.option("--raw", is_flag=True, help="keep a trailing newline from stdin (default: strip one)")
def set_(name: str, raw: bool) -> None:
    """Store the value read from stdin (never from the command line)."""
    from paneseal.store import validate_store_name

    validate_store_name(name)
    if sys.stdin.isatty():
        first = getpass.getpass(f"value for {name}: ")
        again = getpass.getpass("again: ")
        if first != again:
            raise UsageError("the two values differ; nothing was stored")
        data = first.encode("utf-8", "surrogateescape")
    else:
        data = sys.stdin.buffer.read()
        if not raw and data.endswith(b"\n"):
            data = data[:-1]
    if b"\x00" in data:
        raise InvalidValue(
            f"value for {name} contains a NUL byte, which no environment variable can hold",
            hint="store it base64-encoded instead",
        )
    _store().set(name, data)
    click.echo(f"stored {name}", err=True)


@command.command("get")
@click.argument("name")
def get(name: str) -> None:
    """Print a value (to a pipe or terminal: you asked for it)."""
    from paneseal import audit
    from paneseal.refs import SecretRef
    from paneseal.resolve import Request, resolve_with_settings

    resolution = resolve_with_settings([Request(name, SecretRef("store", name), scope="command")])
    audit.record(audit.AccessContext("store get"), resolution, delivered=False)
    resolution.raise_if_failed()
    value = resolution.values()[name].reveal()
    audit.record(audit.AccessContext("store get"), resolution, delivered=True)
    sys.stdout.buffer.write(value.encode("utf-8", "surrogateescape"))
    if sys.stdout.isatty():
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


@command.command("ls")
def ls() -> None:
    """List the names in the store (never values)."""
    for name in _store().names():
        click.echo(name)


@command.command("rm")
@click.argument("name")
def rm(name: str) -> None:
    """Delete an entry."""
    _store().remove(name)
    click.echo(f"removed {name}", err=True)
