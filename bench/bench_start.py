"""paneseal start --no-attach vs bare tmuxinator start, on the same project.

Project: 4 windows, 8 panes, 20 secrets in the embedded store (16 project-level, 4 on the
second window).  The bare start passes the secrets the naive way: exported in the
environment of ``tmuxinator start`` before a fresh tmux server (so they land in tmux's global
environment and every pane).  Both start against a fresh server each time (killed between
runs), in an isolated HOME, alternating, 10 runs each; medians compared.  Target: <= 1.25x.
For information, in the same run: ``paneseal start`` with the ``sh`` shim (as on a machine
without a C compiler) and without the preloaded interpreter (``PANESEAL_PRELOAD=0``), 10
runs each, interleaved; and the opt-in (``tmux_command: paneseal-tmux`` + plain
``tmuxinator start``), 5 runs, after the comparison.

    python3 bench/bench_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def project(root: Path, with_secrets: bool, name: str) -> dict[str, object]:
    windows: list[dict[str, object]] = [
        {"editor": {"layout": "main-vertical", "panes": ["echo e1", "echo e2", "echo e3"]}},
        {"server": {"panes": ["echo s1", "echo s2"]}},
        {"logs": {"panes": ["echo l1", "echo l2"]}},
        {"shell": "echo sh"},
    ]
    data: dict[str, object] = {"name": name, "root": str(root), "windows": windows}
    if with_secrets:
        data["secrets"] = {f"BENCH_SECRET_{i:02d}": f"store://bench{i:02d}" for i in range(16)}
        body = windows[1]["server"]
        assert isinstance(body, dict)
        body["secrets"] = {f"BENCH_WINDOW_{i}": f"store://bench{16 + i:02d}" for i in range(4)}
    return data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    ablation_runs = min(runs, 10)
    home = Path(tempfile.mkdtemp(prefix="psbench", dir="/tmp"))
    env = dict(os.environ)
    # PYTHONDONTWRITEBYTECODE would make every paneseal run recompile its modules; an
    # installed package has its bytecode compiled (pip does it), so let the warm-up run do so
    for var in ("TMUX", "TMUX_PANE", "TMUXINATOR_CONFIG", "PYTHONDONTWRITEBYTECODE"):
        env.pop(var, None)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_RUNTIME_DIR=str(home / "run"),
        TMUX_TMPDIR=str(home / "tmux"),
        SHELL="/bin/sh",
    )
    (home / "run").mkdir(mode=0o700)
    (home / "tmux").mkdir(mode=0o700)
    conf = home / ".config" / "tmuxinator"
    conf.mkdir(parents=True)
    paneseal = [sys.executable, "-m", "paneseal"]
    try:
        subprocess.run([*paneseal, "store", "init"], env=env, check=True, capture_output=True)
        values = {}
        for i in range(20):
            values[f"BENCH_SECRET_{i:02d}"] = v = secrets.token_urlsafe(24)
            subprocess.run(
                [*paneseal, "store", "set", "--raw", f"bench{i:02d}"],
                input=v.encode(),
                env=env,
                check=True,
                capture_output=True,
            )
        (conf / "sealed.yml").write_text(yaml.safe_dump(project(home, True, "sealed")))
        optin = {**project(home, True, "optin"), "tmux_command": "paneseal-tmux"}
        (conf / "optin.yml").write_text(yaml.safe_dump(optin))
        (conf / "bare.yml").write_text(yaml.safe_dump(project(home, False, "bare")))
        naive_env = {**env, **values}

        sock = home / "tmux" / f"tmux-{os.getuid()}" / "default"

        def kill() -> None:
            """Kill the server; a socket it leaves behind is removed (tmux 3.3a does not
            always unlink it, and a new server would first try to connect to it)."""
            subprocess.run(["tmux", "kill-server"], env=env, capture_output=True, check=False)
            deadline = time.monotonic() + 0.5
            while sock.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            if sock.exists():
                sock.unlink()

        races = {"bare": 0, "sealed": 0, "optin": 0, "sh": 0, "serial": 0}

        def timed(argv: list[str], run_env: dict[str, str], label: str) -> float:
            """One start on a fresh server.  tmuxinator's own base-index probe starts a
            server that exits just as new-session connects ('server exited unexpectedly',
            a tmux/tmuxinator race without a terminal): such a run is counted and redone."""
            for _ in range(5):
                kill()
                t0 = time.perf_counter()
                r = subprocess.run(argv, env=run_env, stdin=subprocess.DEVNULL, capture_output=True)
                elapsed = time.perf_counter() - t0
                if r.returncode == 0:
                    return elapsed
                if b"server exited unexpectedly" not in r.stderr:
                    break
                races[label] += 1
            raise SystemExit(f"{argv} failed: {r.stderr.decode(errors='replace')[:2000]}")

        sealed_argv = [*paneseal, "start", "sealed", "--no-attach"]
        bare_argv = ["tmuxinator", "start", "bare", "--no-attach"]
        timed(sealed_argv, env, "sealed")  # warm caches once each
        timed(bare_argv, naive_env, "bare")
        optin_argv = ["tmuxinator", "start", "optin", "--no-attach"]
        if shutil.which("paneseal-tmux"):
            timed(optin_argv, env, "optin")
        sealed: list[float] = []
        bare: list[float] = []
        opted: list[float] = []
        # what each part buys, in the same run: the sh shim (no C compiler), and no
        # preloaded interpreter (tmuxinator spawned only after resolution)
        sh_env = {**env, "PANESEAL_SHIM": "sh"}
        serial_env = {**env, "PANESEAL_PRELOAD": "0"}
        with_sh: list[float] = []
        serial: list[float] = []
        for i in range(runs):
            sealed.append(timed(sealed_argv, env, "sealed"))
            bare.append(timed(bare_argv, naive_env, "bare"))
            if i < ablation_runs:
                with_sh.append(timed(sealed_argv, sh_env, "sh"))
                serial.append(timed(sealed_argv, serial_env, "serial"))
        # the opt-in afterwards, not interleaved: its broker child and Python shims would
        # still be exiting while the next start is timed
        for _ in range(5 if shutil.which("paneseal-tmux") else 0):  # slow: 5 runs are enough
            opted.append(timed(optin_argv, env, "optin"))
        kill()
    finally:
        subprocess.run(["tmux", "kill-server"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)

    rows = [("tmuxinator start (naive env)", bare), ("paneseal start --no-attach", sealed)]
    rows += [
        (f"  same, sh shim ({ablation_runs} runs)", with_sh),
        (f"  same, no preload ({ablation_runs} runs)", serial),
    ]
    if opted:
        rows.append((f"opt-in tmuxinator start ({len(opted)} runs)", opted))
    print(f"start of a 4-window, 8-pane project with 20 secrets; {runs} runs each, fresh server")
    print(f"{'':32} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for label, times in rows:
        med, lo, hi = (1000 * f(times) for f in (statistics.median, min, max))
        print(f"{label:32} {med:10.0f} {lo:8.0f} {hi:8.0f}")
    for label, times in rows[:2]:
        print(f"  {label}: " + " ".join(f"{1000 * t:.0f}" for t in times))
    print(f"runs redone (tmux start-up race): {races}")
    ratio = statistics.median(sealed) / statistics.median(bare)
    verdict = "met" if ratio <= 1.25 else "NOT met"
    print(f"ratio paneseal / bare (medians): {ratio:.2f}x  (target <= 1.25x: {verdict})")
    for label, times in rows[2:]:
        other = statistics.median(times) / statistics.median(bare)
        print(f"ratio {label.strip()} / bare: {other:.2f}x")


if __name__ == "__main__":
    main()
