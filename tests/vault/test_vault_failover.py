"""Failover: dead, black-holed and sealed addresses are skipped under one deadline, and a
real three-node raft cluster keeps serving ``paneseal run`` after its active node dies."""

from __future__ import annotations

import http.server
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from paneseal.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from paneseal.providers.base import ProviderContext
from paneseal.providers.vault import VaultProvider
from paneseal.refs import SecretRef
from paneseal.resolve import Request, Resolution, resolve
from pshelp import Home, canary, run_paneseal
from vault import openbao

if TYPE_CHECKING:
    from vault.conftest import Bao


def run(pairs: Mapping[str, str], settings: Mapping[str, Any], timeout: float) -> Resolution:
    ctx = ProviderContext(settings=dict(settings), timeout=timeout)
    requests = [Request(name, SecretRef.parse(text)) for name, text in pairs.items()]
    return resolve(requests, lambda _scheme: ctx)


@pytest.fixture
def token_env(home: Home, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Bao:
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    return bao


@pytest.fixture
def black_hole() -> Iterator[str]:
    with openbao.BlackHole() as hole:
        yield hole.address


@pytest.fixture
def sealed() -> Iterator[openbao.Server]:
    """A separate dev server, sealed: it answers every request with 503 "sealed"."""
    server = openbao.start_dev(canary("SEALEDROOT"))
    try:
        openbao.check(openbao.api(server.address, "PUT", "sys/seal", server.token))
        yield server
    finally:
        openbao.stop_server(server)


def test_dead_and_black_holed_addresses_are_skipped(token_env: Bao, black_hole: str) -> None:
    dead = openbao.dead_address()
    settings = {"addresses": [dead, black_hole, token_env.address], "request_timeout": 0.8}
    t0 = time.monotonic()
    res = run({"U": "vault://secret/multi#user", "P": "vault://secret/multi#password"}, settings, 8)
    elapsed = time.monotonic() - t0
    assert not res.failures, [f.line() for f in res.failures]
    assert res.values()["U"].reveal() == token_env.values["user"]
    # one refused connection (instant) and one black-hole wait, not the 8 s deadline
    assert 0.7 < elapsed < 3.0


def test_a_failed_address_is_tried_once_per_run(token_env: Bao) -> None:
    dead = openbao.dead_address()
    provider = VaultProvider(
        ProviderContext(settings={"addresses": [dead, token_env.address]}, timeout=5)
    )
    refs = [SecretRef.parse(f"vault://secret/{p}") for p in ("multi", "versioned", "tls")]
    try:
        out = provider.fetch_many(refs)
    finally:
        provider.close()
    assert not any(isinstance(v, ProviderError) for v in out.values())
    # 1 refused attempt + 1 mount look-up + 3 reads: the working address is remembered
    assert provider.requests_sent == 5


def test_every_address_failing_lists_each_one_and_why(
    token_env: Bao, black_hole: str, sealed: openbao.Server
) -> None:
    dead = openbao.dead_address()
    settings = {"addresses": [dead, black_hole, sealed.address], "request_timeout": 0.4}
    t0 = time.monotonic()
    res = run({"A": "vault://secret/multi#user", "B": "vault://kv1/app#api_key"}, settings, 6)
    elapsed = time.monotonic() - t0
    assert len(res.failures) == 2
    err = res.failures[0].error
    assert isinstance(err, ProviderUnavailable)
    text = str(err)
    assert f"{dead}: connection refused" in text
    assert f"{black_hole}: connected but no answer within 0.4 s" in text
    assert f"{sealed.address}: sealed (HTTP 503)" in text
    assert text.startswith("vault://secret/multi#user")
    assert token_env.root_token not in text
    # bounded retries (3 rounds of 3 addresses), well inside the 6 s deadline
    assert elapsed < 4.0


def test_sealed_first_address_is_skipped(token_env: Bao, sealed: openbao.Server) -> None:
    settings = {"addresses": [sealed.address, token_env.address]}
    res = run({"U": "vault://secret/multi#user"}, settings, 5)
    assert not res.failures, [f.line() for f in res.failures]
    assert res.values()["U"].reveal() == token_env.values["user"]


def test_black_hole_alone_ends_at_the_deadline_with_a_clear_timeout(
    token_env: Bao, black_hole: str
) -> None:
    settings = {"addresses": [black_hole], "request_timeout": 0.5, "retries": 20}
    t0 = time.monotonic()
    res = run({"U": "vault://secret/multi#user"}, settings, 2.0)
    elapsed = time.monotonic() - t0
    (failure,) = res.failures
    assert isinstance(failure.error, ProviderTimeout)
    # the provider's own error (naming the address), not the resolver's generic one
    assert black_hole in str(failure.error)
    assert elapsed < 2.2


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect to ``target`` and records what it saw."""

    target = ""
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        if self.target:
            self.send_response(307)
            self.send_header("Location", self.target + self.path)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def redirector() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A fake standby that redirects to a second server nobody configured."""
    stolen: list[dict[str, str]] = []
    seen: list[dict[str, str]] = []
    thief = http.server.HTTPServer(("127.0.0.1", 0), type("T", (_Recorder,), {"seen": stolen}))
    target = f"http://127.0.0.1:{thief.server_address[1]}"
    standby = http.server.HTTPServer(
        ("127.0.0.1", 0), type("S", (_Recorder,), {"seen": seen, "target": target})
    )
    threads = [threading.Thread(target=srv.serve_forever, daemon=True) for srv in (thief, standby)]
    for t in threads:
        t.start()
    try:
        yield f"http://127.0.0.1:{standby.server_address[1]}", stolen
        assert seen, "the redirecting address was never asked"
    finally:
        for srv in (thief, standby):
            srv.shutdown()
            srv.server_close()


def test_standby_redirects_are_not_followed(
    token_env: Bao, redirector: tuple[str, list[dict[str, str]]]
) -> None:
    standby, stolen = redirector
    res = run({"U": "vault://secret/multi#user"}, {"addresses": [standby, token_env.address]}, 5)
    assert not res.failures, [f.line() for f in res.failures]
    res = run({"U": "vault://secret/multi#user"}, {"addresses": [standby]}, 3)
    (failure,) = res.failures
    assert f"{standby}: standby redirect to http://127.0.0.1:" in str(failure.error)
    assert stolen == []  # the token never went to the address nobody configured


# ------------------------------------------------------------------------- raft cluster


@pytest.fixture(scope="module")
def raft() -> Iterator[tuple[openbao.Cluster, str]]:
    cluster = openbao.start_raft_cluster(3)
    try:
        active = cluster.active()
        value = canary("RAFT")
        openbao.check(
            openbao.api(
                active.address,
                "POST",
                "sys/mounts/secret",
                cluster.token,
                {"type": "kv", "options": {"version": "2"}},
            )
        )

        def written() -> bool:
            status, _ = openbao.api(
                active.address, "POST", "secret/data/app", cluster.token, {"data": {"v": value}}
            )
            return status == 200

        openbao._wait(written, 30, "the KV mount to accept writes")

        def everywhere() -> bool:
            return all(
                openbao.api(n.address, "GET", "secret/data/app", cluster.token)[0] == 200
                for n in cluster.nodes
            )

        openbao._wait(everywhere, 30, "the secret to replicate")
        yield cluster, value
    finally:
        openbao.stop_cluster(cluster)


def test_raft_cluster_survives_its_active_node(
    raft: tuple[openbao.Cluster, str], home: Home
) -> None:
    cluster, value = raft
    active = cluster.active()
    # the dead active node first, so the run really has to fail over
    order = [active.address] + [a for a in cluster.addresses if a != active.address]
    config = home.config / "paneseal" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"[providers.vault]\naddresses = {order!r}\n".replace("'", '"')
        + "timeout = 15\nrequest_timeout = 2\n"
    )
    env = home.env()
    env["VAULT_TOKEN"] = cluster.token
    active.stop(signal.SIGKILL)
    t0 = time.monotonic()
    r = run_paneseal(
        "run",
        "--secret",
        "V=vault://secret/app#v",
        "--",
        sys.executable,
        "-c",
        "import os, sys; sys.stdout.write(os.environ['V'])",
        env=env,
        timeout=60,
    )
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == value
    assert value.encode() not in r.stderr and cluster.token.encode() not in r.stderr
    assert elapsed < 15
    # and the survivors elect a new active node: the cluster really is healthy again
    new_active = cluster.wait_active(30)
    assert new_active is not active


@pytest.mark.parametrize("retries", [0, 1, 3], ids=["no-retry", "one-retry", "three-retries"])
def test_retries_are_bounded(home: Home, monkeypatch: pytest.MonkeyPatch, retries: int) -> None:
    monkeypatch.setenv("VAULT_TOKEN", canary("TOKEN"))
    dead = [openbao.dead_address() for _ in range(2)]
    provider = VaultProvider(
        ProviderContext(settings={"addresses": dead, "retries": retries}, timeout=10)
    )
    refs = [SecretRef.parse("vault://secret/a"), SecretRef.parse("vault://secret/b")]
    t0 = time.monotonic()
    try:
        out = provider.fetch_many(refs)
    finally:
        provider.close()
    assert all(isinstance(v, ProviderUnavailable) for v in out.values())
    # (retries + 1) rounds over both addresses, once for the whole batch: after giving up,
    # the second secret gets the same answer without another round of attempts
    assert provider.requests_sent == 2 * (retries + 1)
    # jittered backoff between rounds stays small: 0..0.1 + 0..0.2 + 0..0.4 s at most
    assert time.monotonic() - t0 < 1.5
