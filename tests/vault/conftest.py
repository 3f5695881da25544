"""OpenBao fixtures: one dev server per session (plain + TLS listener, file audit device),
filled with KV v1/v2 secrets, policies, AppRole, userpass and a namespace.

Every value and every credential is a random canary, so a test can assert where it must
and must not appear.  Server code lives in ``openbao.py`` (importable by benchmarks).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pshelp import canary
from vault import openbao

READER_POLICY = """
path "secret/data/multi" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
"""


@dataclass
class Bao:
    server: openbao.Server
    root_token: str
    values: dict[str, str] = field(default_factory=dict)
    reader_token: str = ""
    role_id: str = ""
    secret_id: str = ""
    username: str = "alice"
    password: str = ""

    @property
    def address(self) -> str:
        return str(self.server.address)

    @property
    def tls_address(self) -> str:
        assert self.server.tls_address is not None
        return str(self.server.tls_address)

    @property
    def ca_cert(self) -> str:
        assert self.server.tls is not None
        return str(self.server.tls.ca_cert)

    def call(self, method: str, path: str, body: object = None, *, ns: str = "") -> Any:
        if ns:
            req = urllib.request.Request(  # noqa: S310 - loopback test server
                f"{self.address}/v1/{path}",
                data=json.dumps(body).encode() if body is not None else None,
                method=method,
            )
            req.add_header("X-Vault-Token", self.root_token)
            req.add_header("X-Vault-Namespace", ns)
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
                return int(resp.status)
        return openbao.check(openbao.api(self.address, method, path, self.root_token, body))

    def audit_count(self, path: str) -> int:
        return int(openbao.audit_requests(self.server, path))


@pytest.fixture(scope="session")
def bao() -> Iterator[Bao]:
    token = canary("ROOTTOKEN")
    server = openbao.start_dev(token, tls=True, audit=True)
    try:
        b = Bao(server, token)
        v = b.values
        for name in ("user", "password", "host", "v1", "v2", "kv1", "ns", "gone", "tls"):
            v[name] = canary(name.upper())
        b.call(
            "POST",
            "secret/data/multi",
            {"data": {"user": v["user"], "password": v["password"], "host": v["host"]}},
        )
        b.call("POST", "secret/data/versioned", {"data": {"value": v["v1"]}})
        b.call("POST", "secret/data/versioned", {"data": {"value": v["v2"]}})
        b.call("POST", "secret/data/deleted", {"data": {"value": v["gone"]}})
        b.call("POST", "secret/data/deleted", {"data": {"value": "second"}})
        b.call("POST", "secret/delete/deleted", {"versions": [1]})
        b.call("POST", "secret/data/tls", {"data": {"value": v["tls"]}})
        b.call("POST", "secret/data/other", {"data": {"value": canary("OTHER")}})
        b.call("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
        b.call("POST", "kv1/app", {"api_key": v["kv1"], "n": 42})
        b.call("PUT", "sys/policies/acl/reader", {"policy": READER_POLICY})
        made = b.call("POST", "auth/token/create", {"policies": ["reader"], "ttl": "1h"})
        b.reader_token = made["auth"]["client_token"]
        b.call("POST", "sys/auth/approle", {"type": "approle"})
        b.call("POST", "auth/approle/role/app", {"token_policies": ["reader"]})
        rid = b.call("GET", "auth/approle/role/app/role-id")
        sid = b.call("POST", "auth/approle/role/app/secret-id", {})
        b.role_id = rid["data"]["role_id"]
        b.secret_id = sid["data"]["secret_id"]
        b.password = canary("PASSWORD")
        b.call("POST", "sys/auth/userpass", {"type": "userpass"})
        b.call(
            "POST",
            f"auth/userpass/users/{b.username}",
            {"password": b.password, "token_policies": "reader"},
        )
        b.call("POST", "sys/namespaces/team", {})
        b.call("POST", "sys/mounts/kvt", {"type": "kv", "options": {"version": "2"}}, ns="team")
        b.call("POST", "kvt/data/app", {"data": {"value": v["ns"]}}, ns="team")
        yield b
    finally:
        openbao.stop_server(server)
