"""Real backends for the provider tests, started and stopped by the fixtures themselves.

- ``moto``: one ``moto_server`` per test session (0.8 s to start), wiped before each test;
  its request log counts the HTTP calls paneseal makes.
- ``gnupg`` / ``pass_store``: one throwaway GnuPG key per session (key generation is the
  slow part), a fresh password store per test.
- ``keyring_bus``: a private ``dbus-daemon`` plus ``gnome-keyring-daemon`` per test, in the
  test's own HOME; ``lock()`` locks its default collection.
- ``fake_cli``: the 1Password ``op`` and Bitwarden ``bw`` stand-ins of ``fakes/`` installed
  on PATH (neither real tool can run here), fed from a JSON file the test writes.

All paths are short and under /tmp: gpg-agent and D-Bus sockets fail on long paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pshelp import Home, wait_until

FAKES = Path(__file__).parent / "fakes"


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# --------------------------------------------------------------------------- moto (AWS)


@dataclass
class Moto:
    url: str
    log: Path
    proc: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(req, timeout=10):  # noqa: S310 - loopback test server
            pass

    def requests(self) -> int:
        """API calls served so far (moto-api calls excluded)."""
        return sum(
            1
            for line in self.log.read_text(errors="replace").splitlines()
            if '"POST / HTTP' in line
        )

    def client(self, service: str, region: str = "us-east-1") -> Any:
        import boto3

        return boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def start_moto(
    log: Path, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Moto:
    env = dict(os.environ)
    env.update(extra_env or {})
    fh = log.open("wb")
    proc = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", "0", *args], stdout=fh, stderr=fh, env=env
    )
    fh.close()

    def url() -> str | None:
        m = re.search(r"Running on (https?://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if proc.poll() is not None:
            raise AssertionError("moto_server exited: " + log.read_text(errors="replace"))
        return m.group(1) if m else None

    found = wait_until(url, timeout=30)
    assert isinstance(found, str)
    return Moto(found, log, proc)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    tmp = Path(tempfile.mkdtemp(prefix="moto", dir="/tmp"))
    server = start_moto(tmp / "moto.log")
    try:
        yield server
    finally:
        _stop(server.proc)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def moto(moto_server: Moto, home: Home, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """A wiped moto server, with this process's AWS variables pointing at it."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return moto_server


# --------------------------------------------------------------------------- GnuPG + pass


@dataclass
class GnuPG:
    home: str
    fpr: str

    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": self.home}


@pytest.fixture(scope="session")
def gnupg() -> Iterator[GnuPG]:
    root = tempfile.mkdtemp(prefix="g", dir="/tmp")
    ghome = os.path.join(root, "gnupg")
    os.mkdir(ghome, 0o700)
    env = dict(os.environ, GNUPGHOME=ghome)

    def gpg(*args: str) -> bytes:
        return subprocess.run(
            ["gpg", "--batch", *args], env=env, capture_output=True, check=True, timeout=60
        ).stdout

    uid = "paneseal test <t@example.invalid>"
    gpg("--passphrase", "", "--quick-generate-key", uid, "ed25519", "cert,sign", "never")
    out = gpg("--with-colons", "--list-keys", uid)
    fpr = next(line.split(":")[9] for line in out.decode().splitlines() if line.startswith("fpr"))
    gpg("--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never")
    try:
        yield GnuPG(ghome, fpr)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PassStore:
    dir: Path
    gpg: GnuPG

    def put(self, name: str, content: str | bytes) -> None:
        """Encrypt an entry the way ``pass insert`` stores it (gpg, to the store's key)."""
        data = content.encode() if isinstance(content, str) else content
        target = self.dir / f"{name}.gpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["gpg", "--batch", "--yes", "--quiet", "--encrypt", "-r", self.gpg.fpr, "-o",
             str(target)],
            input=data, env=dict(os.environ, **self.gpg.env()), check=True, capture_output=True,
        )  # fmt: skip

    def env(self) -> dict[str, str]:
        return {"PASSWORD_STORE_DIR": str(self.dir), **self.gpg.env()}


@pytest.fixture
def pass_store(gnupg: GnuPG, home: Home, monkeypatch: pytest.MonkeyPatch) -> PassStore:
    store = home.root / ".password-store"
    store.mkdir()
    (store / ".gpg-id").write_text(gnupg.fpr + "\n")
    for key, value in {"PASSWORD_STORE_DIR": str(store), **gnupg.env()}.items():
        monkeypatch.setenv(key, value)
    return PassStore(store, gnupg)


# --------------------------------------------------------------------------- keyring


@dataclass
class KeyringBus:
    address: str
    password: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def _collection(self) -> Any:
        import secretstorage

        conn = secretstorage.dbus_init()
        return conn, secretstorage.get_default_collection(conn)

    def put(self, service: str, username: str, value: str) -> None:
        conn, coll = self._collection()
        try:
            attrs = {
                "service": service,
                "username": username,
                "application": "Python keyring library",
            }
            coll.create_item(f"Password for '{username}' on '{service}'", attrs, value.encode())
        finally:
            conn.close()

    def lock(self) -> None:
        conn, coll = self._collection()
        try:
            coll.lock()
            assert coll.is_locked()
        finally:
            conn.close()


@pytest.fixture
def keyring_bus(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyringBus]:
    run = Path(tempfile.mkdtemp(prefix="kr", dir="/tmp"))
    os.chmod(run, 0o700)
    dbus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile",
         f"--address=unix:path={run}/bus", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert dbus.stdout is not None
    address = dbus.stdout.readline().decode().strip()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    password = "kr-" + os.urandom(6).hex()
    gkd = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets",
         f"--control-directory={run}/keyring"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )  # fmt: skip
    assert gkd.stdin is not None
    gkd.stdin.write(password.encode())
    gkd.stdin.close()
    bus = KeyringBus(address, password, [gkd, dbus])

    def owned() -> bool:
        r = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
             "string:org.freedesktop.secrets"],
            capture_output=True, check=False,
        )  # fmt: skip
        return b"boolean true" in r.stdout

    try:
        wait_until(owned, timeout=15)
        yield bus
    finally:
        for proc in bus.procs:
            _stop(proc)
        shutil.rmtree(run, ignore_errors=True)


# --------------------------------------------------------------------------- op / bw stand-ins


@dataclass
class FakeCli:
    bin: Path
    data: Path
    calls: Path

    def write(self, data: dict[str, Any]) -> None:
        self.data.write_text(json.dumps(data))

    def argv_log(self) -> list[list[str]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines() if line]


@pytest.fixture
def fake_cli(home: Home, monkeypatch: pytest.MonkeyPatch) -> FakeCli:
    """``op`` and ``bw`` stand-ins on PATH, run by this interpreter (no pyenv shim)."""
    bindir = home.root / "bin"
    bindir.mkdir()
    for name in ("op", "bw"):
        body = (FAKES / f"{name}.py").read_text()
        exe = bindir / name
        exe.write_text(f"#!{sys.executable} -I\n{body}")
        exe.chmod(0o755)
    fake = FakeCli(bindir, home.root / "fake-data.json", home.root / "fake-calls.jsonl")
    fake.write({})
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PANESEAL_FAKE_DATA", str(fake.data))
    monkeypatch.setenv("PANESEAL_FAKE_CALLS", str(fake.calls))
    for var in ("OP_SERVICE_ACCOUNT_TOKEN", "OP_CONNECT_HOST", "OP_CONNECT_TOKEN", "BW_SESSION"):
        monkeypatch.delenv(var, raising=False)
    return fake


def elapsed(start: float) -> float:
    return time.monotonic() - start
