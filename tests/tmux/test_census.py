"""The leak census (issue 3 acceptance): real tmux, real tmuxinator, hostile canaries.

Each run starts a 3-window project (2-3 panes each) with project- and window-level secrets,
then checks that exactly the expected panes hold exactly the expected values, and that no
value is anywhere else: argv of any process (sampled every few ms during the start), the
environment of any other process, tmux's global environment, other sessions, scrollback,
shell history, files under HOME / XDG dirs / /tmp, and the command's own output.  Every
negative check is paired with a positive control proving it can see what it looks for.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tmux.tmuxhelp import (
    Home,
    Put,
    Sampler,
    canary,
    files_with,
    has_session,
    panes,
    run_paneseal,
    shell_env,
    tmux,
    tmux_server_pids,
    wait_until,
    write_project,
)

NAMES = ("PS_HOSTILE", "PS_BIG", "PS_SHADOW", "W_FIRST", "W_SECOND")


def hostile(tag: str) -> tuple[str, str]:
    tok = canary(tag)
    value = (
        f"{tok} \"dq\" 'sq' $HOME ${{X}} ~ ~root `id` $(id) #{{session_name}} %if 1 "
        "\\ \\n \\\\ ;\nline two\twith tab\r\x01 ü € 🎉 # end"
    )
    return tok, value


def big(tag: str) -> tuple[str, str]:
    tok = canary(tag)
    return tok, (tok + secrets.token_hex(32 * 1024))[: 64 * 1024]


def project_data(root: Path, optin: bool, hook_file: Path) -> dict[str, object]:
    data: dict[str, object] = {
        "root": str(root),
        "on_project_start": f"env > {hook_file}",
        "pre_window": "echo PREWINDOW_RAN",
        "secrets": {
            "PS_HOSTILE": "store://hostile",
            "PS_BIG": "store://big",
            "PS_SHADOW": "store://shadow_project",
        },
        "windows": [
            {
                "editor": {
                    "layout": "main-vertical",
                    "secrets": {"W_FIRST": "store://first", "PS_SHADOW": "store://shadow_w0"},
                    "panes": ["echo SCROLLMARK_A", "echo SCROLLMARK_B"],
                }
            },
            {
                "server": {
                    "secrets": {"W_SECOND": "store://second"},
                    "panes": ["echo SCROLLMARK_C", "echo SCROLLMARK_D", "echo SCROLLMARK_E"],
                }
            },
            {"logs": {"panes": ["echo SCROLLMARK_F", "echo SCROLLMARK_G"]}},
        ],
    }
    if optin:
        data["tmux_command"] = "paneseal-tmux"
    return data


@pytest.mark.parametrize("server", ["no-server", "server-running"])
@pytest.mark.parametrize("mode", ["paneseal-start", "optin-tmuxinator"])
def test_leak_census(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, mode: str, server: str
) -> None:
    optin = mode == "optin-tmuxinator"
    values: dict[str, tuple[str, str]] = {
        "hostile": hostile("HOSTILE"),
        "big": big("BIG"),
        "shadow_project": hostile("SHADOWP"),
        "shadow_w0": hostile("SHADOWW"),
        "first": hostile("FIRST"),
        "second": hostile("SECOND"),
    }
    for name, (_tok, value) in values.items():
        store(name, value)
    needles = {name: tok.encode() for name, (tok, _v) in values.items()}
    root = home.root / "proj"
    root.mkdir()
    hook_file = home.root / "hook_env.txt"
    write_project(home, "census", project_data(root, optin, hook_file))

    if server == "server-running":
        tmux("new-session", "-d", "-s", "other")
        assert has_session("other")
    servers_before = tmux_server_pids()

    control = canary("CONTROL").encode()
    with Sampler({**needles, "control": control}) as sampler:
        # positive control: the sampler sees a planted argv and environ while it runs
        ctl = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()", control.decode()],
            stdin=subprocess.PIPE,
            env={"PANESEAL_CONTROL": control.decode(), "PATH": "/usr/bin:/bin"},
        )
        wait_until(lambda: any(h[0] == "control" for h in sampler.cmdline_hits))
        wait_until(lambda: ctl.pid in sampler.environ_hits)
        assert ctl.stdin is not None
        ctl.stdin.close()
        ctl.wait()
        if optin:
            r = subprocess.run(
                ["tmuxinator", "start", "census", "--no-attach"],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                env=shell_env(),
                timeout=60,
                check=False,
            )
        else:
            r = run_paneseal("start", "census", "--no-attach", env=shell_env())
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        assert has_session("census")
        wait_until(lambda: len(panes("census")) == 7)
        pane_list = panes("census")
        wait_until(lambda: "SCROLLMARK_G" in _all_scrollback())
    assert sampler.rounds > 10

    # 1. exactly the expected panes hold exactly the expected values
    v = {name: value for name, (_t, value) in values.items()}
    expected_by_window = {
        0: {"PS_HOSTILE": v["hostile"], "PS_BIG": v["big"], "PS_SHADOW": v["shadow_w0"],
            "W_FIRST": v["first"]},
        1: {"PS_HOSTILE": v["hostile"], "PS_BIG": v["big"], "PS_SHADOW": v["shadow_project"],
            "W_SECOND": v["second"]},
        2: {"PS_HOSTILE": v["hostile"], "PS_BIG": v["big"], "PS_SHADOW": v["shadow_project"]},
    }  # fmt: skip
    assert sorted(p.window for p in pane_list) == [0, 0, 1, 1, 1, 2, 2]
    for pane in pane_list:
        env = pane.environ()
        got = {k: env[k] for k in NAMES if k in env}
        assert got == expected_by_window[pane.window], f"pane {pane}"
        assert not any(k.startswith("PANESEAL_") for k in env), f"pane {pane}"

    # 2. a window created later gets the project-level secrets only
    tmux("new-window", "-t", "=census")
    later = [p for p in panes("census") if p.window == 3]
    assert len(later) == 1
    env = later[0].environ()
    assert {k: env.get(k) for k in ("PS_HOSTILE", "PS_BIG", "PS_SHADOW")} == {
        "PS_HOSTILE": v["hostile"],
        "PS_BIG": v["big"],
        "PS_SHADOW": v["shadow_project"],
    }
    assert "W_FIRST" not in env and "W_SECOND" not in env

    # 3. argv of every process, sampled during the start (control proved the sampler works)
    leaks = [h for h in sampler.cmdline_hits if h[0] != "control"]
    assert leaks == []

    # 4. no process but the panes (and their children) ever had a value in its environment
    pane_pids = {p.pid for p in panes("census")}
    for pid, labels in sampler.environ_hits.items():
        if pid == ctl.pid:
            continue
        assert pid in pane_pids or set(sampler.environ_ancestors.get(pid, [])) & pane_pids, (
            f"pid {pid} {sampler.environ_cmd.get(pid)!r} held {labels}"
        )

    # 5. tmux's global environment; the session environment is the positive control
    global_env = tmux("show-environment", "-g").encode()
    session_env = tmux("show-environment", "-t", "=census").encode()
    assert needles["hostile"] in session_env
    assert [n for n, b in needles.items() if b in global_env] == []
    assert b"PANESEAL_" not in global_env

    # 6. other sessions of the same server
    if server == "server-running":
        for pane in panes("other"):
            env_other = Path(f"/proc/{pane.pid}/environ").read_bytes()
            assert [n for n, b in needles.items() if b in env_other] == []
        tmux("new-session", "-d", "-s", "after")
        for pane in panes("after"):
            env_after = Path(f"/proc/{pane.pid}/environ").read_bytes()
            assert b"HISTFILE" in env_after  # control: we read a real environment
            assert [n for n, b in needles.items() if b in env_after] == []

    # 7. scrollback of every pane (control: the typed pane commands are there)
    scroll = _all_scrollback()
    assert "SCROLLMARK_A" in scroll and "PREWINDOW_RAN" in scroll
    assert [n for n, b in needles.items() if b.decode() in scroll] == []

    # 8. paneseal's (or tmuxinator's) own output
    out = r.stdout + r.stderr
    assert [n for n, b in needles.items() if b in out] == []

    # 9. shell history after the server is killed (control: the typed commands are there)
    hist = home.root / ".bash_history"
    tmux("kill-server")
    wait_until(lambda: hist.exists() and b"SCROLLMARK_G" in hist.read_bytes(), timeout=15)
    assert [n for n, b in needles.items() if b in hist.read_bytes()] == []
    wait_until(lambda: not (tmux_server_pids() - servers_before))

    # 10. every file under HOME (XDG dirs included), the runtime dir and /tmp, but the
    # encrypted store; control: the hook's env dump is found and holds no value
    assert hook_file.exists()
    if not optin:
        assert b"PANESEAL_TOKEN" in hook_file.read_bytes()
    planted = home.root / "planted.txt"
    planted.write_bytes(control)
    store_dir = home.data / "paneseal" / "store"
    hits = files_with(
        [home.root, runtime_dir, Path("/tmp")], {**needles, "control": control}, skip=[store_dir]
    )
    assert [h for h in hits if h[0] != "control"] == []
    assert ("control", planted) in hits
    # nothing of paneseal's is left behind in the runtime dir
    wait_until(lambda: not [p for p in runtime_dir.rglob("*") if p.name != "paneseal"])


def _all_scrollback() -> str:
    out = []
    for line in tmux("list-panes", "-a", "-F", "#{pane_id}").splitlines():
        out.append(tmux("capture-pane", "-p", "-S", "-", "-t", line))
    return "".join(out)
