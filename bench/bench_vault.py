"""vault:// figures against a real OpenBao dev server, side by side in one run.

Table 1: 20 secrets spread over 5 KV v2 paths (4 fields each), resolved
  - by paneseal's provider in-process (fresh provider per run: mount look-up included),
  - by ``paneseal run`` as a cold process,
  - one hvac read per secret, as a hand-written Python wrapper would,
  - one ``bao kv get -field=F`` per secret, as a shell wrapper would.
Table 2: failover cost: one path read with a healthy, dead (refused), sealed or black-holed
  (accepts, never answers) first address; and the time to a final error when all are bad.

Runs are interleaved so noise hits every row alike; medians of N runs.  Not a unit test:

    python3 tests/vault/bench_vault.py [--runs 15]
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from vault import openbao

PATHS = [f"app{i}" for i in range(5)]
FIELDS = ["user", "password", "host", "port"]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bv", dir="/tmp"))
    token = "bench-" + secrets.token_hex(8)
    server = openbao.start_dev(token)
    sealed = openbao.start_dev("sealed-" + secrets.token_hex(8))
    hole = openbao.BlackHole()
    try:
        openbao.check(openbao.api(sealed.address, "PUT", "sys/seal", sealed.token))
        for p in PATHS:
            data = {f: secrets.token_hex(8) for f in FIELDS}
            openbao.check(
                openbao.api(server.address, "POST", f"secret/data/{p}", token, {"data": data})
            )
        os.environ.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".state"),
            XDG_DATA_HOME=str(home / ".data"),
            VAULT_ADDR=server.address,
            VAULT_TOKEN=token,
        )
        for var in ("VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH"):
            os.environ.pop(var, None)
        refs = [f"vault://secret/{p}#{f}" for p in PATHS for f in FIELDS]
        table1(refs, server, args.runs)
        table2(server, sealed, hole.address, args.runs)
    finally:
        hole.close()
        openbao.stop_server(sealed)
        openbao.stop_server(server)
        shutil.rmtree(home, ignore_errors=True)
    return 0


def resolve_refs(refs: list[str], settings: dict[str, object], timeout: float = 10.0) -> int:
    from paneseal.providers.base import ProviderContext
    from paneseal.refs import SecretRef
    from paneseal.resolve import Request, resolve

    ctx = ProviderContext(settings=settings, timeout=timeout)
    res = resolve(
        [Request(f"V{i}", SecretRef.parse(r)) for i, r in enumerate(refs)], lambda _s: ctx
    )
    return len(res.failures)


def table1(refs: list[str], server: openbao.Server, runs: int) -> None:
    import hvac

    from paneseal.providers.base import ProviderContext
    from paneseal.providers.vault import VaultProvider
    from paneseal.refs import SecretRef

    bao = openbao.bao_binary()
    bao_env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]}
    bao_env.update(VAULT_ADDR=server.address, VAULT_TOKEN=os.environ["VAULT_TOKEN"])
    cli = [sys.executable, "-m", "paneseal", "run"]
    for i, r in enumerate(refs):
        cli += ["--secret", f"V{i}={r}"]
    cli += ["--", "true"]

    def provider() -> None:
        assert resolve_refs(refs, {}) == 0

    def paneseal_cli() -> None:
        subprocess.run(cli, check=True, capture_output=True)

    def hvac_each() -> None:
        client = hvac.Client(url=server.address, token=os.environ["VAULT_TOKEN"])
        for r in refs:
            path, _, field = r.removeprefix("vault://secret/").partition("#")
            doc = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point="secret", raise_on_deleted_version=True
            )
            assert doc["data"]["data"][field]
        client.adapter.close()

    def bao_each() -> None:
        for r in refs:
            path, _, field = r.removeprefix("vault://").partition("#")
            subprocess.run(
                [bao, "kv", "get", f"-field={field}", path],
                check=True,
                capture_output=True,
                env=bao_env,
            )

    rows: list[tuple[str, Callable[[], None]]] = [
        ("paneseal provider (in-process)", provider),
        ("paneseal run (cold process)", paneseal_cli),
        ("hvac, one read per secret", hvac_each),
        ("bao kv get per secret", bao_each),
    ]
    samples: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _name, fn in rows:  # warm-up: imports, page cache
        fn()
    for _ in range(runs):
        for name, fn in rows:
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)

    p = VaultProvider(ProviderContext(timeout=10))
    p.fetch_many([SecretRef.parse(r).base for r in dict.fromkeys(x.split("#")[0] for x in refs)])
    p.close()
    requests = {
        "paneseal provider (in-process)": str(p.requests_sent),
        "paneseal run (cold process)": str(p.requests_sent),
        "hvac, one read per secret": str(len(refs)),
        "bao kv get per secret": f"{2 * len(refs)} (preflight + read)",
    }
    cli_base = statistics.median(samples["paneseal run (cold process)"])
    print(f"\n20 secrets over 5 KV v2 paths, median of {runs} runs")
    print(f"{'method':34} {'median ms':>10} {'/ paneseal run':>15}  HTTP requests")
    for name, _ in rows:
        med = statistics.median(samples[name])
        print(f"{name:34} {med * 1000:10.1f} {med / cli_base:14.2f}x  {requests[name]}")


def table2(server: openbao.Server, sealed: openbao.Server, hole: str, runs: int) -> None:
    refs = [f"vault://secret/app0#{f}" for f in FIELDS]
    dead = openbao.dead_address()
    good = server.address
    fast: dict[str, object] = {"request_timeout": 0.5}
    all_bad = [dead, hole, sealed.address]
    cases: list[tuple[str, dict[str, object], float, int]] = [
        ("healthy first", {"addresses": [good]}, 10, 0),
        ("dead first (refused)", {"addresses": [dead, good]}, 10, 0),
        ("sealed first (503)", {"addresses": [sealed.address, good]}, 10, 0),
        ("black hole first, request_timeout 0.5", {"addresses": [hole, good], **fast}, 10, 0),
        ("black hole first, default (10 s deadline)", {"addresses": [hole, good]}, 10, 0),
        ("all bad, 3 rounds, request_timeout 0.5", {"addresses": all_bad, **fast}, 10, 4),
    ]
    samples: dict[str, list[float]] = {name: [] for name, *_ in cases}
    n = max(3, runs // 3)  # the black-hole rows cost seconds each
    for _ in range(n):
        for name, settings, timeout, failures in cases:
            t0 = time.perf_counter()
            got = resolve_refs(refs, settings, timeout)
            samples[name].append(time.perf_counter() - t0)
            assert got == failures, (name, got)
    healthy = statistics.median(samples["healthy first"])
    print(f"\nfailover: 4 fields of one path, median of {n} runs")
    print(f"{'first address':44} {'median ms':>10} {'extra ms':>9}")
    for name, *_ in cases:
        med = statistics.median(samples[name])
        print(f"{name:44} {med * 1000:10.1f} {(med - healthy) * 1000:9.1f}")


if __name__ == "__main__":
    sys.exit(main())
