"""Cost of auditing: ``paneseal run`` with 20 store secrets, audit on vs off.

Runs are interleaved (on, off, on, off, ...) so machine noise hits both sides alike; the
table gives medians of N runs each.  A second table times just the two ``record`` calls of
one ``run`` in-process (40 records), which is the audit's own cost without process start-up
noise.  The target in issue 5 is under 5 ms added per ``run``.

    python3 bench/bench_audit.py [--runs 20] [--secrets 20] [--no-bytecode-cache]
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

NO_CACHE = "--no-bytecode-cache" in sys.argv


def _setup(n_secrets: int) -> tuple[Path, dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="pb", dir="/tmp"))
    env = dict(os.environ)
    env.update(
        HOME=str(root),
        XDG_CONFIG_HOME=str(root / ".config"),
        XDG_DATA_HOME=str(root / ".local/share"),
        XDG_STATE_HOME=str(root / ".local/state"),
    )
    if not NO_CACHE:
        # measure paneseal as installed: bytecode cached (outside the checkout)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    os.environ.update(env)  # the in-process part uses the same directories
    from paneseal.store import Store

    st = Store.default()
    st.init()
    for i in range(n_secrets):
        st.set(f"s{i}", secrets.token_hex(16).encode())
    return root, env


def _settings(root: Path, mode: str) -> None:
    (root / ".config/paneseal/config.toml").write_text(f'audit = "{mode}"\n')


def _time_run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and the child's CPU time (user + sys: less sensitive to other load)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"paneseal run failed: {err.decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime


def _in_process(n_secrets: int, runs: int) -> list[float]:
    from paneseal import audit
    from paneseal.refs import SecretRef
    from paneseal.resolve import Outcome, Request, Resolution
    from paneseal.secret import Secret
    from paneseal.settings import Settings

    outcomes = []
    for i in range(n_secrets):
        ref = SecretRef("store", f"s{i}")
        outcomes.append(Outcome(Request(f"S{i}", ref), Secret(ref, "x"), None, "store", 0.001))
    res = Resolution(outcomes)
    ctx = audit.AccessContext("run")
    settings = Settings()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        audit.record(ctx, res, delivered=False, settings=settings)
        audit.record(ctx, res, delivered=True, settings=settings)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module on every run (as with PYTHONDONTWRITEBYTECODE=1)",
    )
    args = parser.parse_args()

    root, env = _setup(args.secrets)
    try:
        argv = [sys.executable, "-m", "paneseal", "run"]
        for i in range(args.secrets):
            argv += ["--secret", f"S{i}=store://s{i}"]
        argv += ["--", "true"]
        on: list[float] = []
        off: list[float] = []
        cpu_on: list[float] = []
        cpu_off: list[float] = []
        for mode in ("required", "off"):  # warm-up: key creation, bytecode, page cache
            _settings(root, mode)
            _time_run(argv, env)
        for _ in range(args.runs):
            _settings(root, "required")
            wall, cpu = _time_run(argv, env)
            on.append(wall)
            cpu_on.append(cpu)
            _settings(root, "off")
            wall, cpu = _time_run(argv, env)
            off.append(wall)
            cpu_off.append(cpu)
        _settings(root, "required")
        own = _in_process(args.secrets, args.runs)
        log = root / ".local/state/paneseal/audit.jsonl"
        records = sum(1 for _ in log.open())

        med_on, med_off = statistics.median(on), statistics.median(off)
        cache = "without bytecode cache" if NO_CACHE else "bytecode cached"
        print(
            f"paneseal run with {args.secrets} store secrets, {args.runs} runs each, "
            f"interleaved, {cache}"
        )
        print(f"{'audit':<10}{'wall median':>12}{'min':>8}{'max':>8}{'CPU median':>12}")
        for name, xs, cs in (("off", off, cpu_off), ("required", on, cpu_on)):
            print(
                f"{name:<10}{statistics.median(xs) * 1e3:>12.1f}"
                f"{min(xs) * 1e3:>8.1f}{max(xs) * 1e3:>8.1f}{statistics.median(cs) * 1e3:>12.1f}"
            )
        diff = (med_on - med_off) * 1e3
        cdiff = (statistics.median(cpu_on) - statistics.median(cpu_off)) * 1e3
        print(f"difference (median on - median off): wall {diff:+.1f} ms, CPU {cdiff:+.1f} ms")
        print(f"ratio (wall) {med_on / med_off:.3f}   (all figures in ms)")
        print()
        print(f"in-process: both record() calls of one run ({2 * args.secrets} records)")
        print(f"{'median ms':>12}{'min ms':>10}{'max ms':>10}")
        print(
            f"{statistics.median(own) * 1e3:>12.2f}{min(own) * 1e3:>10.2f}{max(own) * 1e3:>10.2f}"
        )
        print(f"log now holds {records} records; target: under 5 ms added per run")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
