"""The embedded store: age files readable by the age CLI, private modes, atomic writes,
no plaintext on disk, and clear errors that name the secret."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paneseal.errors import StoreError
from paneseal.store import Store
from pshelp import Home, Put, canary, files_containing, paneseal_argv, run_paneseal
from ptyutil import run_in_pty


def _paths(home: Home) -> tuple[Path, Path]:
    return home.config / "paneseal" / "identity.txt", home.data / "paneseal" / "store"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_init_modes_and_idempotent(home: Home) -> None:
    r = run_paneseal("store", "init")
    assert r.returncode == 0, r.stderr
    identity, directory = _paths(home)
    assert _mode(identity) == 0o600
    assert _mode(identity.parent) == 0o700
    assert _mode(directory) == 0o700
    assert b"public key: age1" in r.stdout
    key = identity.read_bytes()
    again = run_paneseal("store", "init")
    assert again.returncode == 0
    assert b"already exists" in again.stdout
    assert identity.read_bytes() == key


def test_set_get_ls_rm(store: Put, home: Home) -> None:
    value = canary()
    r = run_paneseal("store", "set", "db", input=value + "\n")
    assert r.returncode == 0, r.stderr
    assert value.encode() not in r.stdout + r.stderr
    got = run_paneseal("store", "get", "db")
    assert got.stdout == value.encode()  # one trailing newline stripped without --raw
    store("raw", value + "\n")
    assert run_paneseal("store", "get", "raw").stdout == (value + "\n").encode()
    _, directory = _paths(home)
    assert _mode(directory / "db.age") == 0o600
    assert run_paneseal("store", "ls").stdout == b"db\nraw\n"
    assert run_paneseal("store", "rm", "db").returncode == 0
    assert run_paneseal("store", "ls").stdout == b"raw\n"
    missing = run_paneseal("store", "rm", "db")
    assert missing.returncode == 5
    assert b"no entry 'db' in the store" in missing.stderr


def test_value_never_on_argv_or_disk(store: Put, home: Home) -> None:
    value = canary()
    store("k", value)
    _, directory = _paths(home)
    assert (directory / "k.age").exists()
    assert files_containing(home.root, value.encode()) == []
    # positive control: the search does see a plaintext copy
    (home.root / "plain").write_text(value)
    assert files_containing(home.root, value.encode()) == [home.root / "plain"]


def test_file_decrypts_with_age_cli(store: Put, home: Home) -> None:
    value = "multi\nline 'quoted' $(x) é\n"
    store("agecheck", value)
    identity, directory = _paths(home)
    r = subprocess.run(
        ["age", "-d", "-i", str(identity), str(directory / "agecheck.age")],
        capture_output=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == value.encode()


def test_age_cli_file_is_readable_by_paneseal(store: Put, home: Home) -> None:
    """The other direction: a file written by the age CLI to our recipient."""
    identity, directory = _paths(home)
    recipient = next(
        ln.split(": ")[1]
        for ln in identity.read_text().splitlines()
        if ln.startswith("# public key:")
    )
    subprocess.run(
        ["age", "-r", recipient, "-o", str(directory / "fromage.age")],
        input=b"from-age",
        check=True,
    )
    assert run_paneseal("store", "get", "fromage").stdout == b"from-age"


def test_atomic_writes_leave_no_temp_files(store: Put, home: Home) -> None:
    for i in range(5):
        store("same", f"value {i}")
    _, directory = _paths(home)
    assert sorted(p.name for p in directory.iterdir()) == ["same.age"]
    assert run_paneseal("store", "get", "same").stdout == b"value 4"


def test_failed_write_keeps_old_value(
    store: Put, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    store("keep", "old")

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", boom)
        with pytest.raises(OSError, match="No space"):
            Store.default().set("keep", b"new")
    _, directory = _paths(home)
    assert [p.name for p in directory.iterdir()] == ["keep.age"]
    assert run_paneseal("store", "get", "keep").stdout == b"old"


PERMS = [
    ("identity-0644", "identity", 0o644, "chmod 600"),
    ("identity-0640", "identity", 0o640, "chmod 600"),
    ("identity-0602", "identity", 0o602, "chmod 600"),
    ("config-dir-0755", "config", 0o755, "chmod 700"),
    ("store-dir-0750", "store", 0o750, "chmod 700"),
    ("store-dir-0707", "store", 0o707, "chmod 700"),
]


@pytest.mark.parametrize(
    ("which", "mode", "hint"), [p[1:] for p in PERMS], ids=[p[0] for p in PERMS]
)
def test_refuses_loose_permissions(
    store: Put, home: Home, which: str, mode: int, hint: str
) -> None:
    store("x", "v")
    identity, directory = _paths(home)
    target = {"identity": identity, "config": identity.parent, "store": directory}[which]
    os.chmod(target, mode)
    marker = home.root / "started"
    for args in (
        ("store", "get", "x"),
        ("run", "--secret", "X=store://x", "--", "touch", str(marker)),
    ):
        r = run_paneseal(*args)
        assert r.returncode == 5, r.stderr
        err = r.stderr.decode()
        assert f"{hint} {target}" in err
        assert "group or others" in err
    assert not marker.exists()
    # writes are refused too
    assert run_paneseal("store", "set", "y", input="v").returncode == 5


def _damage(kind: str, path: Path, home: Home) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt":
        body = bytearray(data)
        body[-10] ^= 0xFF
        path.write_bytes(bytes(body))
    elif kind == "foreign":
        path.write_bytes(b"just some text someone put here\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "wrong-identity":
        from pyrage import encrypt, x25519

        other = x25519.Identity.generate()
        path.write_bytes(encrypt(b"v", [other.to_public()]))


DAMAGE = [
    ("truncated", "cannot be decrypted"),
    ("corrupt", "cannot be decrypted"),
    ("foreign", "is not an age file"),
    ("empty", "is not an age file"),
    ("wrong-identity", "not encrypted to this identity"),
]


@pytest.mark.parametrize(("kind", "words"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_entries_name_the_secret(store: Put, home: Home, kind: str, words: str) -> None:
    store("broken", "v")
    _, directory = _paths(home)
    _damage(kind, directory / "broken.age", home)
    r = run_paneseal("store", "get", "broken")
    assert r.returncode == 5
    err = r.stderr.decode()
    assert "'broken'" in err and words in err
    assert "Traceback" not in err
    marker = home.root / "started"
    r = run_paneseal("run", "--secret", "API=store://broken", "--", "touch", str(marker))
    assert r.returncode == 5
    assert not marker.exists()
    lines = [ln for ln in r.stderr.decode().splitlines() if "API: store://broken" in ln]
    assert len(lines) == 1 and words in lines[0]


def test_bad_identity_file(store: Put, home: Home) -> None:
    identity, _ = _paths(home)
    identity.write_text("# nothing here\n")
    r = run_paneseal("store", "get", "x")
    assert r.returncode == 5
    assert b"exactly one AGE-SECRET-KEY" in r.stderr


def test_not_initialised(home: Home) -> None:
    r = run_paneseal("run", "--secret", "X=store://x", "--", "true")
    assert r.returncode == 5
    assert b"paneseal store init" in r.stderr


@pytest.mark.parametrize("name", ["../x", ".hidden", "-x", "a/b", "x.age", "a" * 129, ""])
def test_bad_store_names(store: Put, name: str) -> None:
    r = run_paneseal("store", "set", "--", name, input="v")
    assert r.returncode in (2, 3)
    assert b"invalid store name" in r.stderr or b"Missing argument" in r.stderr


def test_store_error_messages_carry_no_value(store: Put, home: Home) -> None:
    value = canary()
    store("s", value)
    _, directory = _paths(home)
    os.chmod(directory, 0o755)  # noqa: S103 - the point of the test
    with pytest.raises(StoreError) as info:
        Store.default().get("s")
    assert value not in str(info.value)


_cli_values = st.text(st.characters(codec="utf-8", blacklist_characters="\x00"), max_size=300)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=_cli_values)
def test_cli_set_get_round_trip(store: Put, value: str) -> None:
    data = value.encode()
    r = run_paneseal("store", "set", "--raw", "rt", input=data)
    assert r.returncode == 0, r.stderr
    assert run_paneseal("store", "get", "rt").stdout == data


def test_set_on_a_tty_does_not_echo(store: Put, home: Home) -> None:
    value = canary()
    argv = paneseal_argv("store", "set", "ttyval")
    res = run_in_pty(
        argv,
        [(b"value for ttyval:", value.encode() + b"\n"), (b"again:", value.encode() + b"\n")],
    )
    assert res.status == 0, res.output
    assert value.encode() not in res.output  # echo was off
    assert b"again:" in res.output
    assert run_paneseal("store", "get", "ttyval").stdout == value.encode()
    # two different answers store nothing
    res = run_in_pty(
        paneseal_argv("store", "set", "other"),
        [(b"value for other:", b"one\n"), (b"again:", b"two\n")],
    )
    assert res.status == 2
    assert b"differ" in res.output
    assert "other" not in Store.default().names()
    assert sys.executable  # the pty child ran the same interpreter
