"""``paneseal env``: formats, and never onto a terminal unless asked."""

from __future__ import annotations

import json
import subprocess

import pytest

from paneseal.envformat import FORMATS, fish_quote, render, sh_quote
from paneseal.errors import UsageError
from pshelp import Home, Put, canary, paneseal_argv, run_paneseal
from ptyutil import run_in_pty

RENDERED = [
    ("sh", "export A='it'\\''s $HOME'\n"),
    ("fish", "set -gx A 'it\\'s $HOME'\n"),
    ("dotenv", "A='it\\'s $HOME'\n"),
    ("json", '{\n  "A": "it\'s $HOME"\n}\n'),
]


@pytest.mark.parametrize(("fmt", "text"), RENDERED, ids=[r[0] for r in RENDERED])
def test_render(fmt: str, text: str) -> None:
    assert render({"A": "it's $HOME"}, fmt) == text


def test_formats_listed() -> None:
    assert sorted(FORMATS) == ["dotenv", "fish", "json", "sh"]


def test_quoting_helpers() -> None:
    assert sh_quote("") == "''"
    assert sh_quote("a'b") == "'a'\\''b'"
    assert fish_quote("a\\'b") == "'a\\\\\\'b'"


def test_dotenv_refuses_trailing_backslash() -> None:
    with pytest.raises(UsageError, match="KEY: the dotenv format cannot hold") as info:
        render({"KEY": "C:\\dir\\"}, "dotenv")
    assert "C:" not in str(info.value)


def test_env_sh_evaluates(store: Put, home: Home) -> None:
    value = canary() + " 'q' $(no) `no` \\ \n end"
    store("v", value)
    r = run_paneseal("env", "--secret", "MY_VAR=store://v")
    assert r.returncode == 0, r.stderr
    out = subprocess.run(
        ["bash", "-c", 'eval "$(cat)"; printf %s "$MY_VAR"'],
        input=r.stdout,
        capture_output=True,
        check=True,
    )
    assert out.stdout == value.encode()


def test_env_json_from_project(store: Put, home: Home) -> None:
    store("a", "1")
    store("w", "2")
    path = home.tmuxinator / "p.yml"
    path.write_text(
        "name: p\nsecrets:\n  A: store://a\nwindows:\n  - srv:\n      secrets: {W: store://w}\n"
    )
    r = run_paneseal("env", "-p", str(path), "--format", "json")
    assert json.loads(r.stdout) == {"A": "1"}
    r = run_paneseal("env", "-p", str(path), "--window", "srv", "--format", "json")
    assert json.loads(r.stdout) == {"A": "1", "W": "2"}


def test_env_fails_closed(store: Put, home: Home) -> None:
    store("a", canary())
    r = run_paneseal("env", "--secret", "A=store://a", "--secret", "B=store://missing")
    assert r.returncode == 5
    assert r.stdout == b""  # nothing half-printed
    assert b"B: store://missing" in r.stderr


def test_env_refuses_a_terminal(store: Put, home: Home) -> None:
    value = canary()
    store("v", value)
    res = run_in_pty(paneseal_argv("env", "--secret", "V=store://v"))
    assert res.status == 2
    assert b"refusing to print secret values to a terminal" in res.output
    assert value.encode() not in res.output
    # positive control: with --allow-tty the value does reach the terminal
    res = run_in_pty(paneseal_argv("env", "--allow-tty", "--secret", "V=store://v"))
    assert res.status == 0
    assert value.encode() in res.output


def test_non_utf8_values(store: Put, home: Home) -> None:
    """Bytes that are not UTF-8 survive sh and fish; JSON, which cannot carry them, refuses."""
    store("bin", b"a\xff\xfe'b")
    r = run_paneseal("env", "--secret", "B=store://bin")
    out = subprocess.run(
        ["bash", "-c", 'eval "$(cat)"; printf %s "$B"'], input=r.stdout, capture_output=True
    )
    assert out.stdout == b"a\xff\xfe'b"
    r = run_paneseal("env", "--format", "fish", "--secret", "B=store://bin")
    out = subprocess.run(
        ["fish", "--no-config", "-c", "source; printf %s $B"], input=r.stdout, capture_output=True
    )
    assert out.stdout == b"a\xff\xfe'b"
    r = run_paneseal("env", "--format", "json", "--secret", "B=store://bin")
    assert r.returncode == 2
    assert b"B: the value is not valid UTF-8" in r.stderr and r.stdout == b""
    r = run_paneseal(
        "run", "--secret", "B=store://bin", "--", "python3", "-c",
        "import os, sys; sys.stdout.buffer.write(os.environb[b'B'])",
    )  # fmt: skip
    assert r.stdout == b"a\xff\xfe'b"
