"""``paneseal start`` / ``stop`` and the opt-in against real tmux and tmuxinator."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tmux.tmuxhelp import (
    Home,
    Put,
    canary,
    has_session,
    panes,
    run_paneseal,
    shell_env,
    simple_project,
    tmux,
    tmux_server_pids,
    wait_until,
    write_project,
)


def tmuxinator_start(name: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["tmuxinator", "start", name, "--no-attach", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=shell_env(),
        timeout=60,
        check=False,
    )


# ----------------------------------------------------------------------------- fail closed


@pytest.mark.parametrize("server", ["no-server", "server-running"])
@pytest.mark.parametrize("mode", ["paneseal-start", "paneseal-start-erb", "optin-tmuxinator"])
def test_fail_closed(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, mode: str, server: str
) -> None:
    token = canary()
    store("token", token)
    store("winkey", canary())
    data = simple_project(home.root, on_project_first_start=f"touch {home.root}/first_start_ran")
    data["secrets"] = {"APP_TOKEN": "store://token", "MISSING_ONE": "store://no_such_entry"}
    data["windows"] = [
        {"one": {"secrets": {"ALSO_MISSING": "store://absent_too"}, "panes": ["echo TYPED_A"]}},
        {"two": {"panes": ["echo TYPED_B"]}},
    ]
    if mode == "optin-tmuxinator":
        data["tmux_command"] = "paneseal-tmux"
    if mode == "paneseal-start-erb":  # ERB: tmuxinator must not even render it
        data["windows"][1] = {"two": {"panes": ["echo <%= 'TYPED' + '_B' %>"]}}  # type: ignore[index]
    write_project(home, "failing", data)
    if server == "server-running":
        # a session whose name 'failing:0' would match by prefix if the script ran on
        tmux("new-session", "-d", "-s", "failing-other")
    before = tmux_server_pids()
    if mode.startswith("paneseal-start"):
        r = run_paneseal("start", "failing", "--no-attach", env=shell_env())
        assert r.returncode == 5
    else:
        r = tmuxinator_start("failing")
        assert r.returncode != 0
    err = r.stderr.decode()
    assert "MISSING_ONE" in err and "ALSO_MISSING" in err, err  # every failure, one report
    assert "2 required secrets failed" in err
    assert token.encode() not in r.stdout + r.stderr
    assert not has_session("failing")
    assert tmux_server_pids() - before == set()  # no new server
    if mode != "optin-tmuxinator":  # the opt-in resolves at new-session, after these hooks
        assert not (home.root / "first_start_ran").exists()
    if server == "server-running":
        scroll = tmux("capture-pane", "-p", "-S", "-", "-t", "=failing-other:")
        assert "TYPED_A" not in scroll and "TYPED_B" not in scroll
        assert tmux("list-sessions", "-F", "#{session_name}").split() == ["failing-other"]
    assert [p.name for p in runtime_dir.rglob("*") if p.name != "paneseal"] == []


def test_tmuxinator_missing_is_a_clear_error(home: Home, store: Put) -> None:
    store("token", canary())
    store("winkey", canary())
    write_project(home, "proj", simple_project(home.root))
    bindir = home.root / "bin"
    bindir.mkdir()
    (bindir / "tmux").symlink_to("/usr/bin/tmux")
    r = run_paneseal("start", "proj", "--no-attach", env={**shell_env(), "PATH": str(bindir)})
    assert r.returncode == 6
    assert "tmuxinator is not installed" in r.stderr.decode()
    assert "apt-get install tmuxinator" in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()


# ----------------------------------------------------------------------------- options


def _wrapper(home: Home) -> dict[str, str]:
    bindir = home.root / "wbin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "mytmux"
    wrapper.write_text('#!/bin/sh\nexec tmux "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


SOCK = "{home}/tmux/custom.sock"
CONF = "{home}/tmux.conf"
OPTION_CASES = {
    "socket_name": ({"socket_name": "psnamed"}, ["-L", "psnamed"]),
    "socket_path": ({"socket_path": SOCK}, ["-S", SOCK]),
    "tmux_options-base-index-1": ({"tmux_options": f"-f {CONF}"}, ["-f", CONF]),
    "custom-tmux_command": ({"tmux_command": "mytmux"}, []),
    "optin-socket_name": (
        {"tmux_command": "paneseal-tmux", "socket_name": "psopt"},
        ["-L", "psopt"],
    ),
}


RUNS = [(case, "paneseal-start") for case in OPTION_CASES] + [("optin-socket_name", "tmuxinator")]


@pytest.mark.parametrize(("case", "how"), RUNS, ids=[f"{c}-{h}" for c, h in RUNS])
def test_project_options_are_honoured(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, case: str, how: str
) -> None:
    settings, socket_args = OPTION_CASES[case]
    fmt = {"home": str(home.root)}
    settings = {k: v.format(**fmt) for k, v in settings.items()}
    socket = [a.format(**fmt) for a in socket_args]
    (home.root / "tmux.conf").write_text("set -g base-index 1\nsetw -g pane-base-index 1\n")
    token, winkey = canary(), canary()
    store("token", token)
    store("winkey", winkey)
    write_project(home, "opts", simple_project(home.root, **settings))
    env = shell_env()
    if settings.get("tmux_command") == "mytmux":
        env.update(_wrapper(home))
    if how == "tmuxinator":
        r = tmuxinator_start("opts")
    else:
        r = run_paneseal("start", "opts", "--no-attach", env=env)
    assert r.returncode == 0, r.stderr.decode()
    try:
        assert has_session("opts", socket)
        if "-L" in socket or "-S" in socket:
            assert not has_session("opts")  # not on the default server
        found = panes("opts", socket)
        assert len(found) == 4
        for pane in found:
            env_p = pane.environ()
            assert env_p.get("APP_TOKEN") == token
            assert (env_p.get("WIN_KEY") == winkey) == (pane.window == 0), pane
    finally:
        subprocess.run(["tmux", *socket, "kill-server"], capture_output=True, check=False)


def test_existing_session_attaches_without_fetching(
    home: Home, store: Put, runtime_dir: Path, server_socket: None
) -> None:
    token = canary()
    store("token", token)
    store("winkey", canary())
    write_project(home, "again", simple_project(home.root))
    r = run_paneseal("start", "again", "--no-attach", env=shell_env())
    assert r.returncode == 0, r.stderr
    # the store entry is gone: a second fetch would fail, so success proves none happened
    (home.data / "paneseal" / "store" / "token.age").unlink()
    r = run_paneseal("start", "again", "--no-attach", env=shell_env())
    assert r.returncode == 0, r.stderr.decode()
    assert "already running" in r.stderr.decode()
    assert all(p.environ().get("APP_TOKEN") == token for p in panes("again"))


def test_tmuxinator_features_still_work(
    home: Home, store: Put, runtime_dir: Path, server_socket: None
) -> None:
    """Hooks, pre_window, layouts, ERB elsewhere in the file and key=value settings."""
    token = canary()
    store("token", token)
    path = home.tmuxinator / "feat.yml"
    path.write_text(
        f"""name: feat
root: {home.root}
on_project_start: touch {home.root}/hook_start
on_project_first_start: touch {home.root}/hook_first
pre_window: export FROM_PRE_WINDOW=1
secrets:
  APP_TOKEN: store://token
windows:
  - <%= "erb" + "win" %>:
      layout: even-horizontal
      panes:
        - echo <%= @settings["greeting"] %>-SETTING
        - echo two
  - plain: echo three
"""
    )
    r = run_paneseal("start", "feat", "--no-attach", "--", "greeting=hello", env=shell_env())
    assert r.returncode == 0, r.stderr.decode()
    assert (home.root / "hook_start").exists() and (home.root / "hook_first").exists()
    names = tmux("list-windows", "-t", "=feat", "-F", "#{window_name}").split()
    assert names == ["erbwin", "plain"]
    wait_until(lambda: "hello-SETTING" in tmux("capture-pane", "-p", "-t", "=feat:0.0"))
    assert all(p.environ().get("APP_TOKEN") == token for p in panes("feat"))
    wait_until(lambda: "FROM_PRE_WINDOW=1" in tmux("capture-pane", "-p", "-t", "=feat:1.0"))
    assert "bypasses paneseal" not in r.stderr.decode()  # @settings is not an inlined value


@pytest.mark.parametrize(
    ("line", "warned"),
    [
        ("echo <%= ENV['DB_PASSWORD'] %>", True),
        ("export API_TOKEN=abcd1234efgh", True),
        ("PGPASSWORD=hunter22 psql", True),
        ("export API_TOKEN=$API_TOKEN", False),
        ("echo hello", False),
    ],
    ids=["erb-env", "export-literal", "inline-literal", "export-reference", "harmless"],
)
def test_bypass_warnings(home: Home, line: str, warned: bool) -> None:
    from paneseal.config import parse_project
    from paneseal.launch import bypass_warnings

    path = home.tmuxinator / "warn.yml"
    path.write_text(f"name: warn\nwindows:\n  - one: {json.dumps(line)}\n")
    warnings = bypass_warnings(parse_project(path))
    assert bool(warnings) == warned, warnings
    if warned:
        assert warnings[0].startswith(f"{path}:3:")


# ----------------------------------------------------------------------------- attach


def test_attach_through_a_terminal(
    home: Home, store: Put, runtime_dir: Path, server_socket: None
) -> None:
    import pty

    token = canary()
    store("token", token)
    store("winkey", canary())
    write_project(home, "att", simple_project(home.root))
    pid, fd = pty.fork()
    if pid == 0:  # child: paneseal start attached to the pty
        argv = [sys.executable, "-m", "paneseal", "start", "att"]
        os.execve(sys.executable, argv, shell_env())  # noqa: S606
    output = bytearray()
    try:

        def attached() -> bool:
            with contextlib.suppress(OSError):
                output.extend(os.read(fd, 65536))
            return has_session("att") and bool(tmux("list-clients", "-t", "=att").strip())

        wait_until(attached, timeout=30)
        assert all(p.environ().get("APP_TOKEN") == token for p in panes("att"))
        # the broker stopped serving at attach: nothing of ours is listening any more
        wait_until(lambda: not list(runtime_dir.rglob("*.sock")))
        tmux("detach-client", "-s", "=att")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    assert token.encode() not in bytes(output)
    assert has_session("att")
    assert [p.name for p in runtime_dir.rglob("*") if p.name != "paneseal"] == []


# ----------------------------------------------------------------------------- stop


@pytest.mark.parametrize("by", ["name", "path"])
def test_stop_kills_session_and_cleans_up(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, by: str
) -> None:
    store("token", canary())
    store("winkey", canary())
    stopped = home.root / "stopped"
    data = simple_project(home.root, on_project_stop=f"touch {stopped}")
    if by == "name":
        path = write_project(home, "halt", data)
        which = ["halt"]
    else:  # a project file outside tmuxinator's directories: start/stop -p PATH
        elsewhere = home.root / "elsewhere"
        elsewhere.mkdir()
        path = elsewhere / "halt.yml"
        path.write_text(yaml.safe_dump({"name": "halt", **data}, sort_keys=False))
        which = ["-p", str(path)]
    r = run_paneseal("start", *which, "--no-attach", env=shell_env())
    assert r.returncode == 0, r.stderr
    assert has_session("halt")
    # a helper left behind by an interrupted opt-in start (simulated: a process of ours)
    from paneseal.config import parse_project
    from paneseal.launch import TmuxSetup, _state_key

    key = _state_key(TmuxSetup.of(parse_project(path)), "halt")
    helper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "paneseal-helper"]
    )
    base = runtime_dir / "paneseal"
    (base / f"{key}.json").write_text(json.dumps({"pid": helper.pid, "session": "halt"}))
    (base / f"{key}.sock").write_text("")
    r = run_paneseal("stop", *which, env=shell_env())
    assert r.returncode == 0, r.stderr.decode()
    assert not has_session("halt")
    assert stopped.exists()  # tmuxinator's on_project_stop hook ran
    assert helper.wait(10) != 0
    assert [p.name for p in runtime_dir.rglob("*") if p.name != "paneseal"] == []


@pytest.mark.parametrize(
    ("name", "args", "hint"),
    [("my.proj", (), "name: my_proj"), ("fine", ("--", "-n", "a:b"), "-n a_b")],
    ids=["name-in-file", "name-from-n"],
)
def test_a_session_name_tmux_would_rename_is_refused_up_front(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, name: str,
    args: tuple[str, ...], hint: str,
) -> None:  # fmt: skip
    store("token", canary())
    store("winkey", canary())
    write_project(home, "dotted", simple_project(home.root) | {"name": name})
    before = tmux_server_pids()
    r = run_paneseal("start", "dotted", "--no-attach", *args, env=shell_env())
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert "contains '.' or ':'" in err and hint in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert tmux_server_pids() - before == set()
    from paneseal.audit.store import log_path

    assert not log_path().exists()  # nothing was fetched
    ok = run_paneseal("start", "dotted", "--no-attach", "--", "-n", "fixed", env=shell_env())
    assert ok.returncode == 0, ok.stderr
    assert log_path().exists()  # the control: a start that resolves does write it
