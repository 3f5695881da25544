"""The audit log seen from the commands: concurrency, fail closed, canaries, log, review."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from paneseal.audit import read
from paneseal.audit import store as audit_store
from pshelp import Home, Put, canary, files_containing, paneseal_argv, run_paneseal


def write_settings(config_dir: Path, text: str) -> None:
    directory = config_dir / "paneseal"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / "config.toml").write_text(text)


@contextlib.contextmanager
def tmpfs(target: Path, size: str) -> Iterator[Path]:
    """Mount a small tmpfs on ``target`` (root only); skip when mounting is not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(target)],
        capture_output=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def remount_read_only(target: Path) -> None:
    r = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True)
    assert r.returncode == 0, r.stderr


def fill(target: Path) -> None:
    """Write until the file system is full (then not one more byte fits)."""
    fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def _records(home: Home) -> list[dict[str, object]]:
    path = home.state / "paneseal" / "audit.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_fifty_concurrent_runs_give_exactly_150_delivered_records(home: Home, store: Put) -> None:
    for name in ("a", "b", "c"):
        store(name, canary())
    args = ["run", "--secret", "A=store://a", "--secret", "B=store://b"]
    args += ["--secret", "C=store://c", "--", "true"]
    procs = [
        subprocess.Popen(paneseal_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(50)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    recs = _records(home)
    delivered = [r for r in recs if r["event"] == "delivered"]
    assert len(delivered) == 150
    assert len([r for r in recs if r["event"] == "resolved"]) == 150
    assert len({r["pid"] for r in delivered}) == 50
    assert [r["seq"] for r in recs] == list(range(1, 301))
    # each process's batch is contiguous: nothing interleaved inside a write
    for i in range(0, 300, 3):
        assert len({(r["pid"], r["event"]) for r in recs[i : i + 3]}) == 1
    r = run_paneseal("log", "verify")
    assert r.returncode == 0, r.stderr
    assert b"300 record(s)" in r.stdout


@pytest.fixture
def state_mount(home: Home) -> Iterator[Path]:
    with tmpfs(home.state / "paneseal", "64k") as target:
        yield target


def _marker_run(home: Home) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    marker = home.root / "marker"
    r = run_paneseal("run", "--secret", "A=store://a", "--", "touch", str(marker))
    return r, marker


def test_read_only_log_directory_runs_nothing(home: Home, store: Put, state_mount: Path) -> None:
    value = canary()
    store("a", value)
    ok, marker = _marker_run(home)
    assert ok.returncode == 0, ok.stderr
    assert marker.exists()  # the same command runs while the log is writable
    marker.unlink()
    remount_read_only(state_mount)
    r, marker = _marker_run(home)
    assert r.returncode == 7, r.stderr
    assert not marker.exists()
    assert b"cannot write the audit log" in r.stderr
    assert b"Read-only file system" in r.stderr
    assert b"nothing was delivered" in r.stderr
    assert b"Traceback" not in r.stderr
    env = run_paneseal("env", "--secret", "A=store://a")
    assert env.returncode == 7 and env.stdout == b""
    assert value.encode() not in env.stderr


def test_full_file_system_runs_nothing(home: Home, store: Put, state_mount: Path) -> None:
    value = canary()
    store("a", value)
    fill(state_mount)
    r, marker = _marker_run(home)
    assert r.returncode == 7, r.stderr
    assert not marker.exists()
    assert b"No space left on device" in r.stderr
    assert value.encode() not in r.stderr
    # no half record was left behind
    log = state_mount / "audit.jsonl"
    assert not log.exists() or log.stat().st_size == 0
    env = run_paneseal("env", "--secret", "A=store://a")
    assert env.returncode == 7 and env.stdout == b""


def test_best_effort_delivers_with_a_loud_warning(
    home: Home, store: Put, state_mount: Path
) -> None:
    store("a", canary())
    write_settings(home.config, 'audit = "best-effort"\n')
    remount_read_only(state_mount)
    r, marker = _marker_run(home)
    assert r.returncode == 0, r.stderr
    assert marker.exists()
    assert b"paneseal: warning: access NOT recorded" in r.stderr
    assert b"Read-only file system" in r.stderr


def test_canary_never_in_log_log_output_or_review(home: Home, store: Put) -> None:
    value = canary()
    store("db", value)
    project = home.tmuxinator / "shop.yml"
    project.write_text(
        "name: shop\nroot: ~/\nsecrets:\n  DB_PASSWORD: store://db\n  OLD: store://old\n"
        "windows:\n  - main: echo hi\n"
    )
    # a project with a value pasted where a reference belongs: review must not print it
    pasted = canary("PASTED")
    (home.tmuxinator / "leaky.yml").write_text(f"name: leaky\nsecrets:\n  TOKEN: {pasted}\n")
    # a project that still hard-codes a password: review counts it through the scanner
    hard = canary("HARD")
    (home.tmuxinator / "hard.yml").write_text(
        f"name: hard\nroot: ~/\nwindows:\n  - db: PGPASSWORD={hard} psql -h db\n"
    )
    sink = tempfile.mkdtemp(prefix="sl", dir="/tmp")
    sock_path = str(Path(sink) / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(5)
    write_settings(home.config, "audit_syslog = true\n")
    env = {**home.env(), "PANESEAL_AUDIT_SYSLOG_SOCKET": sock_path}
    try:
        run = run_paneseal(
            "run",
            "--project",
            "shop",
            "--only",
            "DB_PASSWORD",
            "--",
            "printenv",
            "DB_PASSWORD",
            env=env,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == value.encode()  # the canary is real and was delivered
        assert run_paneseal("store", "get", "db", env=env).stdout == value.encode()
        assert run_paneseal("check", "--project", "shop", env=env).returncode == 5
        piped = run_paneseal("env", "--project", "shop", "--only", "DB_PASSWORD", env=env)
        assert value.encode() in piped.stdout
        syslog = b""
        for _ in range(8):  # run, store get, check (one failed), env: 2 records each
            syslog += sock.recv(65536) + b"\n"
    finally:
        sock.close()
        Path(sock_path).unlink()
        Path(sink).rmdir()
    assert syslog.count(b"paneseal[") == 8 and b'"event":"delivered"' in syslog
    assert value.encode() not in syslog

    recs = _records(home)
    assert {(r["command"], r["event"]) for r in recs} >= {
        ("run", "delivered"),
        ("store get", "delivered"),
        ("check", "resolved"),
        ("check", "failed"),
        ("env", "delivered"),
    }
    outputs = {
        "log": run_paneseal("log"),
        "log --json": run_paneseal("log", "--json"),
        "review": run_paneseal("review"),
        "review --json": run_paneseal("review", "--json"),
        "log verify": run_paneseal("log", "verify"),
    }
    for what, r in outputs.items():
        assert r.returncode == 0, (what, r.stderr)
        assert b"DB_PASSWORD" in r.stdout or what == "log verify", what
        for needle in (value.encode(), pasted.encode(), hard.encode()):
            assert needle not in r.stdout and needle not in r.stderr, what
    assert files_containing(home.state, value.encode()) == []
    # the config dir holds the key and the settings, never a value
    assert files_containing(home.config, value.encode()) == []
    assert b"leaky" in outputs["review"].stdout and b"unreadable" in outputs["review"].stdout
    projects = {p["name"]: p for p in json.loads(outputs["review --json"].stdout)["projects"]}
    assert projects["hard"]["hardcoded"] == 1, projects["hard"]
    assert projects["hard"]["rules"] == ["pgpassword"]
    assert projects["shop"]["hardcoded"] == 0


def _seed_log(home: Home, store: Put) -> Path:
    for name in ("a", "b"):
        store(name, canary())
    project = home.tmuxinator / "web.yml"
    project.write_text(
        "name: web\nroot: ~/\nsecrets:\n  A: store://a\n  B: store://b\n  GONE: store://gone\n"
        "windows:\n  - main: echo hi\n"
    )
    assert run_paneseal("run", "--project", "web", "--only", "A,B", "--", "true").returncode == 0
    assert run_paneseal("run", "--project", "web", "--", "true").returncode == 5
    assert run_paneseal("run", "--secret", "X=store://a", "--", "true").returncode == 0
    return project


FILTERS: list[tuple[str, list[str], set[tuple[str, str]]]] = [
    ("all", [], {("A", "resolved"), ("A", "delivered"), ("GONE", "failed"), ("X", "delivered")}),
    ("project", ["--project", "web"], {("A", "delivered"), ("GONE", "failed")}),
    ("secret-name", ["--secret", "GONE"], {("GONE", "failed")}),
    ("secret-ref", ["--secret", "store://a"], {("A", "delivered"), ("X", "delivered")}),
    ("failed", ["--failed"], {("GONE", "failed")}),
    ("since", ["--since", "1h"], {("A", "delivered"), ("X", "delivered")}),
]


@pytest.mark.parametrize(("args", "expect"), [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_log_filters(home: Home, store: Put, args: list[str], expect: set[tuple[str, str]]) -> None:
    _seed_log(home, store)
    r = run_paneseal("log", "--json", *args)
    assert r.returncode == 0, r.stderr
    got = {(d["name"], d["event"]) for d in map(json.loads, r.stdout.splitlines())}
    assert expect <= got
    if args and args[0] != "--since":
        everything = {(x["name"], x["event"]) for x in _records(home)}
        assert got != everything  # the filter did filter
    table = run_paneseal("log", *args)
    assert table.returncode == 0 and b"TIME (UTC)" in table.stdout


def test_log_since_in_the_future_and_bad_since(home: Home, store: Put) -> None:
    _seed_log(home, store)
    r = run_paneseal("log", "--json", "--since", "2999-01-01")
    assert r.returncode == 0 and r.stdout == b""
    bad = run_paneseal("log", "--since", "yesterday-ish")
    assert bad.returncode == 2 and b"--since 'yesterday-ish'" in bad.stderr


def test_review_reports_use_failures_and_unused(home: Home, store: Put) -> None:
    project = _seed_log(home, store)
    r = run_paneseal("review", "--json", "--days", "7")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["days"] == 7 and data["log"]["verified"] is True
    by = {
        (Path(s["project"]).stem if s["project"] else None, s["name"]): s for s in data["secrets"]
    }
    a = by[("web", "A")]
    assert a["declared"] and a["delivered"] == 1 and a["last_delivered"] and a["status"] == "ok"
    gone = by[("web", "GONE")]
    assert gone["failures"] == 1 and gone["last_failure"]["error"] == "SecretNotFound"
    assert gone["status"].startswith("failing")
    assert by[(None, "X")]["status"] == "ad hoc (--secret)"
    projects = {p["name"]: p for p in data["projects"]}
    assert projects["web"]["declared"] == 3 and projects["web"]["file"] == str(project)
    text = run_paneseal("review", "--days", "7")
    assert text.returncode == 0
    assert b"LAST DELIVERED" in text.stdout and b"unused for 7 days" not in text.stdout
    assert b"failing (1 failure)" in text.stdout


def test_review_flags_declared_but_unused(home: Home) -> None:
    (home.tmuxinator / "idle.yml").write_text("name: idle\nsecrets:\n  K: store://k\n")
    r = run_paneseal("review", "--days", "3")
    assert r.returncode == 0, r.stderr
    assert b"unused for 3 days" in r.stdout
    assert b"1 declared secret(s) not delivered in 3 days" in r.stdout


def test_review_notices_a_tampered_log(home: Home, store: Put) -> None:
    _seed_log(home, store)
    log = store_log(home)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[1:]))
    r = run_paneseal("review")
    assert r.returncode == 0
    assert b"FAILED verification" in r.stdout and b"audit.jsonl:1" in r.stdout


def store_log(home: Home) -> Path:
    return home.state / "paneseal" / "audit.jsonl"


def test_audit_off_writes_nothing_but_still_runs(home: Home, store: Put) -> None:
    store("a", canary())
    write_settings(home.config, 'audit = "off"\n')
    r, marker = _marker_run(home)
    assert r.returncode == 0 and marker.exists()
    assert not (home.state / "paneseal").exists()
    assert read.verify().ok


def test_syslog_unreachable_is_a_warning_not_a_failure(home: Home, store: Put) -> None:
    store("a", canary())
    write_settings(home.config, "audit_syslog = true\n")
    env = {**home.env(), "PANESEAL_AUDIT_SYSLOG_SOCKET": "/tmp/no-such-syslog-socket"}
    marker = home.root / "m"
    r = run_paneseal("run", "--secret", "A=store://a", "--", "touch", str(marker), env=env)
    assert r.returncode == 0 and marker.exists()
    assert b"cannot forward audit records to syslog" in r.stderr
    assert store_log(home) == audit_store.log_path()
    assert read.verify().ok and read.verify().records == 2
