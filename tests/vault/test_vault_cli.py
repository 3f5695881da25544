"""End to end through the CLI: ``paneseal run`` with a vault:// canary value and a canary
token.  The value must reach the child's environment and nowhere else we can look; the
token must appear in no message, however verbose."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from pshelp import Home, all_cmdlines, canary, files_containing, paneseal_argv, run_paneseal

if TYPE_CHECKING:
    from vault.conftest import Bao

CHILD = (
    "import os, sys\n"
    "sys.stdout.write(os.environ['DB_PASSWORD'] + '\\n'); sys.stdout.flush()\n"
    "sys.stdin.readline()\n"
)


def env_for(home: Home, bao: Bao, token: str) -> dict[str, str]:
    env = home.env()
    env["VAULT_ADDR"] = bao.address
    env["VAULT_TOKEN"] = token
    return env


@pytest.mark.parametrize("transport", ["plain", "tls"])
def test_run_delivers_the_value_only_to_the_child(home: Home, bao: Bao, transport: str) -> None:
    value = bao.values["password"]
    token = bao.root_token
    env = env_for(home, bao, token)
    if transport == "tls":
        env.update(VAULT_ADDR=bao.tls_address, VAULT_CACERT=bao.ca_cert)
    argv = paneseal_argv("-vv", "run", "--secret", "DB_PASSWORD=vault://secret/multi#password")
    argv += ["--", sys.executable, "-c", CHILD]
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = proc.stdout.readline()
            # delivered: paneseal exec'd into the child (same pid), which has it in its env
            assert line.decode().strip() == value
            with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                assert value.encode() in fh.read()
            cmdlines = all_cmdlines()
            assert any(b"os.environ['DB_PASSWORD']" in c for c in cmdlines)  # the child's argv
            assert not [c for c in cmdlines if value.encode() in c or token.encode() in c]
        finally:
            _, err = proc.communicate(b"\n", timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"paneseal: " in err  # -vv logging really was on
    assert value.encode() not in err and token.encode() not in err
    assert files_containing(home.root, value.encode()) == []
    assert files_containing(home.root, token.encode()) == []


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("reader", "permission denied reading secret/data/other"),
        ("bogus", "permission denied looking up the mount of 'secret/other'"),
    ],
    ids=["forbidden-path", "bogus-token"],
)
def test_denied_run_names_the_secret_and_never_the_token(
    home: Home, bao: Bao, which: str, words: str
) -> None:
    token = bao.reader_token if which == "reader" else canary("BOGUSTOKEN")
    r = run_paneseal(
        "-vv", "run", "--secret", "OTHER=vault://secret/other#value", "--", "true",
        env=env_for(home, bao, token),
    )  # fmt: skip
    err = r.stderr.decode()
    assert r.returncode == 5, err
    assert "OTHER: vault://secret/other#value [vault] access denied" in err
    assert words in err
    assert token not in err and token not in r.stdout.decode()
    assert not [c for c in all_cmdlines() if token.encode() in c]


def test_several_failures_reported_at_once(home: Home, bao: Bao) -> None:
    r = run_paneseal(
        "run",
        "--secret", "A=vault://secret/nothing#x",
        "--secret", "B=vault://secret/multi#nofield",
        "--secret", "C=vault://secret/multi#user",
        "--", "true",
        env=env_for(home, bao, bao.root_token),
    )  # fmt: skip
    err = r.stderr.decode()
    assert r.returncode == 5
    assert "2 required secrets failed" in err
    assert "A: vault://secret/nothing#x [vault] not found" in err
    assert "B: vault://secret/multi#nofield [vault] field not found" in err
    assert bao.values["user"] not in err


def test_remote_http_address_is_a_config_error(home: Home, bao: Bao) -> None:
    env = env_for(home, bao, bao.root_token)
    env["VAULT_ADDR"] = "http://vault.example.com:8200"
    r = run_paneseal("run", "--secret", "A=vault://secret/multi#user", "--", "true", env=env)
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert "refusing plain http:// to vault.example.com" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_project_overrides_the_configured_addresses(home: Home, bao: Bao) -> None:
    from vault.openbao import dead_address

    config = home.config / "paneseal" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[providers.vault]\naddresses = ["{dead_address()}"]\ntimeout = 4\n')
    (home.tmuxinator / "shop.yml").write_text(
        "name: shop\nroot: ~/\n"
        "secrets:\n  DB_USER: vault://secret/multi#user\n"
        "windows:\n  - editor: vim\n"
        "paneseal:\n  providers:\n"
        f"    vault: {{addresses: ['{dead_address()}', '{bao.address}']}}\n"
    )
    env = home.env()
    env["VAULT_TOKEN"] = bao.root_token
    code = "import os, sys; sys.stdout.write(os.environ['DB_USER'])"
    r = run_paneseal("run", "--project", "shop", "--", sys.executable, "-c", code, env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == bao.values["user"]
    # and without the override the configured (dead) address is all there is
    (home.tmuxinator / "shop.yml").write_text(
        "name: shop\nroot: ~/\nsecrets:\n  DB_USER: vault://secret/multi#user\n"
        "windows:\n  - editor: vim\n"
    )
    r = run_paneseal("run", "--project", "shop", "--", "true", env=env)
    assert r.returncode == 5
    assert "connection refused" in r.stderr.decode()
