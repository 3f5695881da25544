"""End to end through ``paneseal run`` with ``-vv``: a random canary stored in each backend
reaches the command's environment and nowhere else (stderr, debug log, argv of every
process, files under HOME and /tmp)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pshelp import canary, files_containing, run_paneseal

if TYPE_CHECKING:
    from backends.conftest import FakeCli, KeyringBus, Moto, PassStore
    from pshelp import Home

# The child proves delivery and scans every process's argv while it runs.
CHILD = """
import os, sys
value = os.environ["SECRET"].encode()
leaks = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if value in fh.read():
                    leaks.append(pid)
        except OSError:
            pass
verdict = "ARGV-LEAK " + " ".join(leaks) if leaks else "argv-clean"
sys.stdout.write(os.environ["SECRET"] + "\\n" + verdict)
"""


def files_under_tmp(needle: bytes, skip: list[Path]) -> list[str]:
    """Like ``files_containing`` for /tmp, where other test runs create and delete files
    while we walk (vanished entries are skipped, not errors)."""
    hits: list[str] = []
    skipped = [str(p) for p in skip]
    for root, dirs, files in os.walk("/tmp"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skipped]
        for name in files:
            path = os.path.join(root, name)
            if path in skipped:
                continue
            try:
                small = os.path.isfile(path) and os.path.getsize(path) < 16 << 20
                if small and not os.path.islink(path):
                    with open(path, "rb") as fh:
                        if needle in fh.read():
                            hits.append(path)
            except OSError:
                continue
    return hits


Setup = Callable[[pytest.FixtureRequest, str], str]


def _aws_sm(request: pytest.FixtureRequest, value: str) -> str:
    moto: Moto = request.getfixturevalue("moto")
    doc = json.dumps({"user": "u", "password": value})
    moto.client("secretsmanager").create_secret(Name="c/db", SecretString=doc)
    return "aws-sm://c/db#password"


def _ssm(request: pytest.FixtureRequest, value: str) -> str:
    moto: Moto = request.getfixturevalue("moto")
    moto.client("ssm").put_parameter(Name="/c/db", Value=value, Type="SecureString")
    return "ssm://c/db"


def _pass(request: pytest.FixtureRequest, value: str) -> str:
    store: PassStore = request.getfixturevalue("pass_store")
    store.put("c/db", f"{value}\nuser: u\n")
    return "pass://c/db"


def _keyring(request: pytest.FixtureRequest, value: str) -> str:
    bus: KeyringBus = request.getfixturevalue("keyring_bus")
    bus.put("c-db", "u", value)
    return "keyring://c-db/u"


def _op(request: pytest.FixtureRequest, value: str) -> str:
    fake: FakeCli = request.getfixturevalue("fake_cli")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    token = canary("OPTOKEN")
    fake.write({"op": {"token": token, "vaults": {"V": {"db": {"password": value}}}}})
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", token)
    return "op://V/db/password"


def _bw(request: pytest.FixtureRequest, value: str) -> str:
    fake: FakeCli = request.getfixturevalue("fake_cli")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    session = canary("BWSESSION")
    item = {"id": "i1", "name": "db", "login": {"username": "u", "password": value}}
    fake.write({"bw": {"session": session, "items": [item]}})
    monkeypatch.setenv("BW_SESSION", session)
    return "bw://db"


BACKENDS: dict[str, Setup] = {
    "aws-sm": _aws_sm,
    "ssm": _ssm,
    "pass": _pass,
    "keyring": _keyring,
    "op": _op,
    "bw": _bw,
}


def _plaintext_stores(request: pytest.FixtureRequest) -> list[Path]:
    """Where a test backend itself keeps the value unencrypted (the stand-ins' data file)."""
    if "fake_cli" in request.fixturenames:
        fake: FakeCli = request.getfixturevalue("fake_cli")
        return [fake.data]
    return []


@pytest.mark.parametrize("backend", list(BACKENDS), ids=list(BACKENDS))
def test_value_reaches_the_command_and_nothing_else(
    request: pytest.FixtureRequest, home: Home, backend: str
) -> None:
    value = canary()
    ref = BACKENDS[backend](request, value)
    r = run_paneseal("-vv", "run", "--secret", f"SECRET={ref}", "--", sys.executable, "-c", CHILD)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, err
    assert out.splitlines() == [value, "argv-clean"]  # delivered; found in no argv
    assert value not in err
    skip = _plaintext_stores(request)
    for store in skip:  # the scan does find a plain copy where one exists
        assert str(store) in files_under_tmp(value.encode(), skip=[])
    assert files_containing(home.root, value.encode(), skip=skip) == []
    assert files_under_tmp(value.encode(), skip=[home.root, *skip]) == []


@pytest.mark.parametrize("backend", list(BACKENDS), ids=list(BACKENDS))
def test_failure_report_names_refs_but_no_value(
    request: pytest.FixtureRequest, home: Home, backend: str
) -> None:
    """One good and one broken secret of the same backend: nothing is delivered, the report
    names the broken reference, and neither the good value nor a token shows up."""
    value = canary()
    ref = BACKENDS[backend](request, value)
    broken = {
        "aws-sm": "aws-sm://c/nope",
        "ssm": "ssm://c/nope",
        "pass": "pass://c/nope",
        "keyring": "keyring://c-db/nope",
        "op": "op://V/nope/password",
        "bw": "bw://nope",
    }[backend]
    r = run_paneseal(
        "-vv", "run", "--secret", f"GOOD={ref}", "--secret", f"BAD={broken}", "--", "true"
    )
    err = r.stderr.decode()
    assert r.returncode == 5, err
    assert f"BAD: {broken} [{backend}] not found" in err
    assert "nothing was delivered" in err
    assert value not in err and value not in r.stdout.decode()
    for token_var in ("OP_SERVICE_ACCOUNT_TOKEN", "BW_SESSION"):
        token = os.environ.get(token_var)
        if token:
            assert token not in err


def test_botocore_debug_log_is_kept_above_debug(moto: Moto, home: Home) -> None:
    """``-vv`` turns on DEBUG logging; botocore's DEBUG lines would print response bodies."""
    value = canary()
    moto.client("secretsmanager").create_secret(Name="dbg", SecretString=value)
    r = run_paneseal("-vv", "run", "--secret", "S=aws-sm://dbg", "--", "printenv", "S")
    err = r.stderr.decode()
    assert r.stdout.decode().strip() == value
    assert "Found credentials in environment variables" in err  # botocore logs at INFO
    assert "Response body" not in err
    assert value not in err


def test_argv_scan_detects_a_leak(home: Home) -> None:
    """The child's /proc scan is not vacuous: a process holding the value in argv is found."""
    import subprocess

    value = canary()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", value])
    try:
        env = dict(os.environ, X=value)
        r = run_paneseal(
            "run", "--secret", "SECRET=env://X", "--", sys.executable, "-c", CHILD, env=env
        )
        assert r.stdout.decode().splitlines()[1] == f"ARGV-LEAK {holder.pid}"
    finally:
        holder.kill()
        holder.wait()
