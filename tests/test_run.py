"""``paneseal run``: fail closed with one report, exec into the command (exit code and
signals pass straight through), --pristine, --only, --secret, --window."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from paneseal.store import Store
from pshelp import Home, Put, all_cmdlines, canary, paneseal_argv, run_paneseal, wait_until

SHOW_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


def project(home: Home, text: str, name: str = "proj") -> Path:
    path = home.tmuxinator / f"{name}.yml"
    path.write_text(text)
    return path


def provider(home: Home, name: str, script: str) -> None:
    d = home.config / "paneseal" / "providers"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text("#!/bin/sh\n" + script)
    (d / name).chmod(0o700)


# ----------------------------------------------------------------------------- fail closed


def _setup_unknown_scheme(home: Home, put: Put) -> str:
    return "nosuch://thing"


def _setup_missing(home: Home, put: Put) -> str:
    return "store://never_set"


def _setup_corrupt(home: Home, put: Put) -> str:
    put("corrupt", "value")
    path = home.data / "paneseal" / "store" / "corrupt.age"
    path.write_bytes(path.read_bytes()[:-20])
    return "store://corrupt"


def _setup_wrong_identity(home: Home, put: Put) -> str:
    put("mine", "value")
    identity = home.config / "paneseal" / "identity.txt"
    identity.unlink()
    assert run_paneseal("store", "init").returncode == 0  # a new, different identity
    return "store://mine"


def _setup_identity_0644(home: Home, put: Put) -> str:
    put("fine", "value")
    (home.config / "paneseal" / "identity.txt").chmod(0o644)
    return "store://fine"


def _setup_exec_fails(home: Home, put: Put) -> str:
    provider(home, "failing", 'echo "backend says: token expired" >&2\necho second >&2\nexit 1\n')
    return "exec://failing/prod/db"


def _setup_exec_hangs(home: Home, put: Put) -> str:
    provider(home, "hanging", "exec sleep 30.$1\n")
    (home.config / "paneseal" / "config.toml").write_text("[providers.exec]\ntimeout = 1\n")
    return "exec://hanging/4242"


# (id, setup returning the reference, expected exit code, words in the report line)
FAILS: list[tuple[str, Callable[[Home, Put], str], int, str]] = [
    ("unknown-scheme", _setup_unknown_scheme, 5, "unknown scheme 'nosuch'"),
    ("missing-entry", _setup_missing, 5, "no entry 'never_set' in the store"),
    ("corrupt-file", _setup_corrupt, 5, "cannot be decrypted (corrupt or truncated)"),
    ("wrong-identity", _setup_wrong_identity, 5, "not encrypted to this identity"),
    ("identity-0644", _setup_identity_0644, 5, "chmod 600"),
    ("exec-exit-1", _setup_exec_fails, 5, "failing failed: backend says: token expired"),
    ("exec-timeout", _setup_exec_hangs, 5, "did not finish within"),
]


@pytest.mark.parametrize(
    ("setup", "code", "words"), [f[1:] for f in FAILS], ids=[f[0] for f in FAILS]
)
def test_fail_closed(
    store: Put, home: Home, setup: Callable[[Home, Put], str], code: int, words: str
) -> None:
    ref = setup(home, store)
    # the good secret comes from another provider, so every failure here is BAD_ONE's
    path = project(home, f"name: p\nsecrets:\n  GOOD: env://GOOD_SOURCE\n  BAD_ONE: {ref}\n")
    marker = home.root / "started"
    t0 = time.monotonic()
    env = {**os.environ, "GOOD_SOURCE": canary()}
    r = run_paneseal("run", "-p", str(path), "--", "touch", str(marker), env=env)
    elapsed = time.monotonic() - t0
    assert r.returncode == code, r.stderr
    assert not marker.exists(), "the command must never start"
    err = r.stderr.decode()
    lines = [ln for ln in err.splitlines() if "BAD_ONE" in ln]
    assert len(lines) == 1, err
    assert ref in lines[0] and words in lines[0], lines[0]
    assert "GOOD" not in err  # only the failures are listed
    assert "Traceback" not in err
    assert elapsed < 15


def test_exec_timeout_kills_the_program(store: Put, home: Home) -> None:
    tag = str(secrets.randbelow(10**6))
    provider(home, "hanging", "exec sleep 30.$1\n")
    (home.config / "paneseal" / "config.toml").write_text("[providers.exec]\ntimeout = 1\n")
    r = run_paneseal("run", "--secret", f"X=exec://hanging/{tag}", "--", "true")
    assert r.returncode == 5
    needle = f"30.{tag}".encode()
    wait_until(lambda: not any(needle in c for c in all_cmdlines()), timeout=5)


def test_malformed_reference_in_project(store: Put, home: Home) -> None:
    path = project(home, "name: p\nsecrets:\n  OK: store://x\n  BROKEN: store:/x\n")
    marker = home.root / "started"
    r = run_paneseal("run", "-p", str(path), "--", "touch", str(marker))
    assert r.returncode == 3
    assert not marker.exists()
    err = r.stderr.decode().strip()
    assert len(err.splitlines()) == 1
    assert f"{path}:4: secrets.BROKEN:" in err and "not a reference" in err


def test_malformed_reference_on_command_line(home: Home) -> None:
    marker = home.root / "started"
    r = run_paneseal("run", "--secret", "TOKEN=vault://u:pw@h/x", "--", "touch", str(marker))
    assert r.returncode == 3
    assert not marker.exists()
    assert b"--secret: TOKEN: " in r.stderr and b"credentials" in r.stderr
    assert b"pw@" not in r.stderr


def test_three_failures_in_one_report(store: Put, home: Home) -> None:
    provider(home, "failing", 'echo "denied" >&2\nexit 1\n')
    store("ok", "v")
    path = project(
        home,
        "name: p\nsecrets:\n  A: store://absent\n  B: nosuch://x\n  C: exec://failing/y\n"
        "  D: store://ok\n  E: {ref: store://also_absent, optional: true}\n",
    )
    marker = home.root / "started"
    r = run_paneseal("run", "-p", str(path), "--", "touch", str(marker))
    assert r.returncode == 5
    assert not marker.exists()
    err = r.stderr.decode()
    assert "3 required secrets failed to resolve; nothing was delivered" in err
    for name, words in (("A", "no entry 'absent'"), ("B", "unknown scheme"), ("C", "denied")):
        (line,) = [ln for ln in err.splitlines() if ln.strip().startswith(f"{name}: ")]
        assert words in line
    assert "warning: optional secret left unset: E: store://also_absent" in err


def test_optional_failure_warns_and_runs(store: Put, home: Home) -> None:
    store("ok", "v1")
    path = project(
        home, "name: p\nsecrets:\n  A: store://ok\n  B: {ref: store://absent, optional: true}\n"
    )
    r = run_paneseal("run", "-p", str(path), "--", sys.executable, "-c", SHOW_ENV)
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["A"] == "v1" and "B" not in env
    assert b"warning: optional secret left unset: B: store://absent" in r.stderr


# ----------------------------------------------------------------------------- delivery


@pytest.mark.parametrize("code", [0, 1, 42, 255], ids=str)
def test_exit_code_passthrough(store: Put, code: int) -> None:
    store("x", "v")
    r = run_paneseal("run", "--secret", "X=store://x", "--", "sh", "-c", f"exit {code}")
    assert r.returncode == code


def test_command_not_found(home: Home) -> None:
    r = run_paneseal("run", "--", "no-such-program-here")
    assert r.returncode == 127
    assert b"command not found: no-such-program-here" in r.stderr


CHILD = """
import os, signal, sys, time
count = 0
def on_term(signum, frame):
    global count
    count += 1
    print("TERM", count, flush=True)
signal.signal(signal.SIGTERM, on_term)
print("ready", os.getpid(), flush=True)
sys.stdin.read()          # wait until the test says we are done
print("count", count, flush=True)
sys.exit(3)
"""


def test_signal_reaches_the_child_exactly_once(store: Put) -> None:
    store("x", "v")
    proc = subprocess.Popen(
        paneseal_argv("run", "--secret", "X=store://x", "--", sys.executable, "-c", CHILD),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    ready = proc.stdout.readline().split()
    assert ready[0] == b"ready"
    assert int(ready[1]) == proc.pid  # paneseal exec'd: the command IS the process we started
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.stdout.readline() == b"TERM 1\n"
    out, _ = proc.communicate(b"", timeout=30)
    assert out == b"count 1\n"
    assert proc.returncode == 3


def test_pristine(store: Put, home: Home) -> None:
    store("x", "secret-x")
    env = {**os.environ, "UNRELATED_VAR": "1", "LANG": "C.UTF-8"}
    r = run_paneseal(
        "run",
        "--pristine",
        "--secret",
        "X=store://x",
        "--",
        sys.executable,
        "-c",
        SHOW_ENV,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["X"] == "secret-x"
    assert "UNRELATED_VAR" not in got
    assert got["HOME"] == str(home.root) and got["LANG"] == "C.UTF-8" and "PATH" in got
    assert set(got) <= {"X", "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM",
                        "SHELL", "TZ", "LC_CTYPE"}  # fmt: skip
    r = run_paneseal(
        "run", "--secret", "X=store://x", "--", sys.executable, "-c", SHOW_ENV, env=env
    )
    assert json.loads(r.stdout)["UNRELATED_VAR"] == "1"  # without --pristine it is inherited


def test_only_secret_and_window(store: Put, home: Home) -> None:
    for name in ("a", "b", "c", "w"):
        store(name, f"value-{name}")
    path = project(
        home,
        "name: p\nsecrets:\n  A: store://a\n  B: store://b\n"
        "windows:\n  - editor: vim\n  - server:\n      secrets:\n        W: store://w\n"
        "      panes: [ls]\n",
    )

    def env_of(*args: str) -> dict[str, str]:
        r = run_paneseal("run", "-p", str(path), *args, "--", sys.executable, "-c", SHOW_ENV)
        assert r.returncode == 0, r.stderr
        return {k: v for k, v in json.loads(r.stdout).items() if k in {"A", "B", "C", "W"}}

    assert env_of() == {"A": "value-a", "B": "value-b"}
    assert env_of("--only", "B") == {"B": "value-b"}
    assert env_of("--secret", "C=store://c") == {"A": "value-a", "B": "value-b", "C": "value-c"}
    assert env_of("--secret", "A=store://c", "--only", "A") == {"A": "value-c"}
    assert env_of("--window", "server") == {"A": "value-a", "B": "value-b", "W": "value-w"}
    assert env_of("--window", "1", "--only", "W") == {"W": "value-w"}
    r = run_paneseal("run", "-p", str(path), "--only", "A,NOPE", "--", "true")
    assert r.returncode == 2
    assert b"--only names undeclared secret(s): NOPE" in r.stderr
    r = run_paneseal("run", "-p", str(path), "--window", "nosuch", "--", "true")
    assert r.returncode == 3
    assert b"no window 'nosuch'" in r.stderr


def test_project_by_name_and_tmuxinator_config(store: Put, home: Home) -> None:
    store("a", "va")
    project(home, "name: named\nsecrets:\n  A: store://a\n", name="named")
    r = run_paneseal("run", "--project", "named", "--", sys.executable, "-c", SHOW_ENV)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["A"] == "va"
    r = run_paneseal("run", "--project", "absent", "--", "true", cwd=home.root)
    assert r.returncode == 3
    assert b"no tmuxinator project named 'absent'" in r.stderr


@pytest.mark.parametrize(
    ("spec", "words"),
    [("NOEQUALS", "expected NAME=REF"), ("PATH=store://x", "PATH may not be a secret name"),
     ("1A=store://x", "not a valid environment variable name")],
    ids=["no-equals", "reserved", "bad-name"],
)  # fmt: skip
def test_bad_secret_option(home: Home, spec: str, words: str) -> None:
    r = run_paneseal("run", "--secret", spec, "--", "true")
    assert r.returncode in (2, 3)
    assert words.encode() in r.stderr


def test_stderr_reports_are_value_free(store: Put, home: Home) -> None:
    """A value that made it into the store and a failing one next to it: the report lists
    the failure, never the good value."""
    value = canary()
    store("good", value)
    Store.default().set("nul", b"a\x00b")
    r = run_paneseal(
        "-vv", "run", "--secret", "G=store://good", "--secret", "N=store://nul", "--", "true"
    )
    assert r.returncode == 5
    assert b"N: store://nul" in r.stderr
    assert value.encode() not in r.stderr + r.stdout
