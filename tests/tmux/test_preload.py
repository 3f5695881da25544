"""tmuxinator's interpreter loads while paneseal resolves, but tmuxinator itself runs only
once every secret is in hand (paneseal.preload); the compiled and the ``sh`` shim
(paneseal.tmux.native) both deliver."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from paneseal import preload
from paneseal.tmux import native
from tmux.tmuxhelp import (
    Home,
    Put,
    canary,
    has_session,
    panes,
    run_paneseal,
    shell_env,
    simple_project,
    tmux_server_pids,
    write_project,
)


def erb_marker_project(root: Path, marker: Path, secret_ref: str) -> dict[str, object]:
    """Rendering this project (tmuxinator's very first step) writes ``marker``."""
    return {
        "root": str(root),
        "secrets": {"APP_TOKEN": secret_ref},
        "on_project_start": f"touch {root}/hook_ran",
        "windows": [{"one": {"panes": [f"echo <% File.write('{marker}', 'x') %>rendered"]}}],
    }


def gate_processes() -> list[int]:
    """Interpreters still waiting at paneseal's gate (any test's: there must be none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"IO.for_fd(Integer(ARGV.shift))" in cmdline:
            found.append(int(entry.name))
    return found


# ------------------------------------------------------------------- tmuxinator never ran


@pytest.mark.parametrize("outcome", ["secret-fails", "secret-resolves"])
def test_tmuxinator_runs_only_after_every_secret_resolved(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, outcome: str
) -> None:
    value = canary()
    store("token", value)
    marker = home.root / "erb_rendered"
    ref = "store://token" if outcome == "secret-resolves" else "store://no_such_entry"
    write_project(home, "gated", erb_marker_project(home.root, marker, ref))
    before = tmux_server_pids()
    r = run_paneseal("start", "gated", "--no-attach", env=shell_env())
    if outcome == "secret-resolves":  # the control: the same marker does appear
        assert r.returncode == 0, r.stderr
        assert marker.exists() and (home.root / "hook_ran").exists()
        assert [p.environ().get("APP_TOKEN") for p in panes("gated")] == [value]
        return
    assert r.returncode == 5, r.stderr
    # tmuxinator never read the project (its first step renders the ERB), ran no hook,
    # started no server; the interpreter that had loaded its libraries is gone
    assert not marker.exists()
    assert not (home.root / "hook_ran").exists()
    assert not has_session("gated")
    assert tmux_server_pids() - before == set()
    assert gate_processes() == []
    assert [p.name for p in runtime_dir.rglob("*") if p.name != "paneseal"] == []


@pytest.mark.parametrize(
    "args",
    [("--help",), (), ("no_such_project",), ("-p", "/nonexistent/p.yml")],
    ids=["help", "usage-error", "unknown-project", "missing-file"],
)
def test_a_start_that_ends_early_leaves_nothing(
    home: Home, runtime_dir: Path, args: tuple[str, ...]
) -> None:
    r = run_paneseal("start", *args, env=shell_env())
    assert (r.returncode == 0) == (args == ("--help",)), r.stderr
    assert b"Traceback" not in r.stderr
    assert gate_processes() == []
    assert [p.name for p in runtime_dir.rglob("*") if p.name != "paneseal"] == []


# ---------------------------------------------------------------- other ways to start


def assert_delivered(session: str, token: str, winkey: str) -> None:
    found = [
        (p.window, p.environ().get("APP_TOKEN"), p.environ().get("WIN_KEY")) for p in panes(session)
    ]
    expected = [(0, token, winkey), (0, token, winkey), (1, token, None), (1, token, None)]
    assert sorted(found, key=str) == expected


@pytest.mark.parametrize("variant", ["sh-shim", "no-preload", "tmuxinator-wrapper"])
def test_the_slower_paths_deliver_the_same(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, variant: str
) -> None:
    token, winkey = canary(), canary()
    store("token", token)
    store("winkey", winkey)
    write_project(home, "alt", simple_project(home.root))
    env = shell_env()
    if variant == "sh-shim":
        env["PANESEAL_SHIM"] = "sh"
    elif variant == "no-preload":
        env["PANESEAL_PRELOAD"] = "0"
    else:  # not a Ruby script: started after resolution, as without the preload
        bindir = home.root / "wrapper"
        bindir.mkdir()
        wrapper = bindir / "tmuxinator"
        wrapper.write_text('#!/bin/sh\nexec /usr/bin/tmuxinator "$@"\n')
        wrapper.chmod(0o755)
        env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    r = run_paneseal("start", "alt", "--no-attach", env=env)
    assert r.returncode == 0, r.stderr
    assert_delivered("alt", token, winkey)
    assert token.encode() not in r.stdout + r.stderr
    cached = list((home.root / ".cache" / "paneseal").glob("tmux-shim-*"))
    assert len(cached) == (0 if variant == "sh-shim" else 1)


def test_the_compiled_shim_is_built_once_and_kept_private(
    home: Home, store: Put, runtime_dir: Path, server_socket: None
) -> None:
    store("token", canary())
    store("winkey", canary())
    write_project(home, "once", simple_project(home.root))
    assert run_paneseal("start", "once", "--no-attach", env=shell_env()).returncode == 0
    (binary,) = (home.root / ".cache" / "paneseal").glob("tmux-shim-*")
    first = binary.stat()
    assert first.st_mode & 0o777 == 0o700
    assert (binary.parent.stat().st_mode & 0o777) == 0o700
    subprocess.run(["tmux", "kill-server"], capture_output=True, check=False)
    assert run_paneseal("start", "once", "--no-attach", env=shell_env()).returncode == 0
    again = binary.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)


# ------------------------------------------------------------------------------ units


def test_a_writable_cached_shim_is_rebuilt(home: Home) -> None:
    built = native.compiled_shim()
    assert built is not None
    built.chmod(0o722)  # anyone could have replaced its contents
    rebuilt = native.compiled_shim()
    assert rebuilt == built
    assert rebuilt.stat().st_mode & 0o777 == 0o700


def test_no_compiler_means_the_sh_shim(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(home.root / "empty"))
    assert native.compiled_shim() is None
    monkeypatch.setenv("PATH", os.defpath)
    monkeypatch.setenv("PANESEAL_SHIM", "sh")
    assert native.compiled_shim() is None


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        (b"#!/usr/bin/ruby\n", ["/usr/bin/ruby"]),
        (b"#!/usr/bin/ruby3.1 -w\n", ["/usr/bin/ruby3.1", "-w"]),
        (b"#!/usr/bin/env ruby\n", ["/usr/bin/env", "ruby"]),
        (
            b"#!/usr/bin/env -S ruby --disable-gems\n",
            ["/usr/bin/env", "-S", "ruby", "--disable-gems"],
        ),
        (b"#!/bin/bash\n", None),
        (b"#!/usr/bin/env bash\n", None),
        (b"#!\n", None),
        (b"\x7fELF\x02\x01", None),
    ],
)
def test_only_a_ruby_tmuxinator_is_preloaded(
    tmp_path: Path, first_line: bytes, expected: list[str] | None
) -> None:
    script = tmp_path / "tmuxinator"
    script.write_bytes(first_line + b"rest\n")
    assert preload.ruby_of(str(script)) == expected


@pytest.mark.parametrize(
    ("args", "attach"),
    [
        ((), True),
        (("p", "--no-attach"), False),
        (("--no-attach", "p", "--attach"), True),
        (("p", "--", "--no-attach"), True),  # after --: tmuxinator's, not ours
    ],
)
def test_attaching_follows_clicks_rule(args: tuple[str, ...], attach: bool) -> None:
    assert preload.attaching(list(args)) is attach


def test_the_gate_runs_the_real_tmuxinator_only_when_told(
    home: Home, runtime_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    preload.begin(["project", "--no-attach"])
    pending = preload.take()
    assert pending is not None and pending.tmuxinator.endswith("/tmuxinator")
    assert pending.go([pending.tmuxinator, "version"])
    assert pending.wait() == 0
    assert "tmuxinator 3" in capfd.readouterr().out
    pending.abandon()  # after the go: only the run directory goes
    assert not Path(pending.workdir).exists()


def test_a_dead_interpreter_is_reported_not_started(home: Home, runtime_dir: Path) -> None:
    preload.begin(["project", "--no-attach"])
    pending = preload.take()
    assert pending is not None
    os.kill(pending.pid, 9)
    assert pending.wait() == -9
    assert pending.go([pending.tmuxinator, "version"]) is False  # caller starts it plainly
    pending.abandon()
    assert gate_processes() == []


def test_the_argv_arrives_exactly(
    home: Home,
    runtime_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty words, spaces, unicode and quotes reach tmuxinator's ARGV as typed, in the
    locale's encoding as Ruby gives its own ARGV."""
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    probe = tmp_path / "probe.rb"
    probe.write_text("puts ARGV.map { |w| [w, w.encoding.to_s, w.valid_encoding?] }.inspect\n")
    words = ["start", "", "a b", "k=välue", "'\"$HOME", ""]
    preload.begin(["project"])
    pending = preload.take()
    assert pending is not None
    assert pending.go([str(probe), *words])
    assert pending.wait() == 0
    pending.abandon()
    shown = capfd.readouterr().out.strip()
    expected = "[" + ", ".join(f'["{w}", "UTF-8", true]' for w in words) + "]"
    assert shown == expected.replace("'\"$HOME", "'\\\"$HOME")
