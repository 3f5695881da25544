"""Start-up cost of ``paneseal run``: what every pane pays before its command starts.

Times, in one run and interleaved (so machine noise hits every row alike):

- ``/bin/true``                                      the floor: fork + exec
- ``python3 -c pass``                                the interpreter alone
- ``paneseal run --secret X=store://x -- true``      one secret from the embedded store
- ``paneseal run -p P -- true``                      the same secret declared in a project file

Prints the median of N runs (default 20) in ms, and the difference to ``python3 -c pass``.
Target: paneseal within 80 ms of ``python3 -c pass``.

    python3 bench/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 80.0


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="psb", dir="/tmp"))
    env = {
        **os.environ,
        "HOME": str(root),
        "XDG_CONFIG_HOME": str(root / ".config"),
        "XDG_DATA_HOME": str(root / ".local/share"),
        "XDG_STATE_HOME": str(root / ".local/state"),
        "XDG_CACHE_HOME": str(root / ".cache"),
    }
    env.pop("TMUXINATOR_CONFIG", None)
    paneseal = shutil.which("paneseal") or ""
    ps = [paneseal] if paneseal else [sys.executable, "-m", "paneseal"]
    try:
        subprocess.run([*ps, "store", "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*ps, "store", "set", "x"], env=env, check=True, input=b"v", capture_output=True
        )
        project = root / "p.yml"
        project.write_text("name: bench\nroot: ~/\nsecrets:\n  X: store://x\nwindows:\n  - a: ls\n")
        rows: dict[str, list[str]] = {
            "/bin/true": ["/bin/true"],
            "python3 -c pass": [sys.executable, "-c", "pass"],
            "paneseal run --secret X=store://x -- true": [
                *ps, "run", "--secret", "X=store://x", "--", "true"
            ],
            "paneseal run -p P -- true (project file)": [
                *ps, "run", "-p", str(project), "--", "true"
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in rows}
        for argv in rows.values():  # warm the page cache and .pyc files
            _time(argv, env)
        for _ in range(args.runs):
            for name, argv in rows.items():
                times[name].append(_time(argv, env))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["python3 -c pass"]
    width = max(len(n) for n in rows)
    print(f"paneseal start-up, median of {args.runs} runs ({Path(ps[0]).name})")
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>7}  {'vs python':>9}  {'ratio':>5}")
    for name, median in medians.items():
        diff = median - base
        print(
            f"{name:<{width}}  {median:9.1f}  {min(times[name]):7.1f}  "
            f"{diff:+9.1f}  {median / base:5.2f}"
        )
    over = medians["paneseal run --secret X=store://x -- true"] - base
    verdict = "within" if over <= TARGET_MS else "OVER"
    print(
        f"\npaneseal run is {over:.1f} ms above python3 -c pass: "
        f"{verdict} the {TARGET_MS:.0f} ms target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
