"""``paneseal check``: a table of NAME / SCOPE / REFERENCE / PROVIDER / STATUS, never a value."""

from __future__ import annotations

import os

from pshelp import Home, Put, canary, run_paneseal


def test_check_all_ok(store: Put, home: Home) -> None:
    value = canary()
    store("a", value)
    path = home.tmuxinator / "shop.yml"
    path.write_text(
        "name: shop\nsecrets:\n  A: store://a\n"
        "windows:\n  - srv:\n      secrets:\n        W: env://W_SOURCE\n"
    )
    env = {**os.environ, "W_SOURCE": canary()}
    r = run_paneseal("check", "shop", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["NAME", "SCOPE", "REFERENCE", "PROVIDER", "STATUS"]
    assert lines[1].split() == ["A", "project", "store://a", "store", "ok"]
    assert lines[2].split() == ["W", "window", "srv", "env://W_SOURCE", "env", "ok"]
    assert value.encode() not in r.stdout + r.stderr
    assert env["W_SOURCE"].encode() not in r.stdout + r.stderr
    # columns line up
    assert len({ln.index("store://a") for ln in lines[1:2]}) == 1
    assert lines[0].index("REFERENCE") == lines[1].index("store://a")


def test_check_failures_and_warnings(store: Put, home: Home) -> None:
    store("a", "v")
    path = home.tmuxinator / "p.yml"
    path.write_text(
        "name: p\nsecrets:\n  A: store://a\n  B: store://missing\n"
        "  C: {ref: nosuch://x, optional: true}\n"
    )
    r = run_paneseal("check", "-p", str(path))
    assert r.returncode == 5
    out = r.stdout.decode()
    (b_line,) = [ln for ln in out.splitlines() if ln.startswith("B ")]
    assert "FAILED: not found: no entry 'missing' in the store" in b_line
    (c_line,) = [ln for ln in out.splitlines() if ln.startswith("C ")]
    assert "WARN (optional)" in c_line and "unknown scheme" in c_line
    assert b"1 required secret failed" in r.stderr


def test_check_unknown_project(home: Home) -> None:
    r = run_paneseal("check", "nosuch", cwd=home.root)
    assert r.returncode == 3
    assert b"no tmuxinator project named 'nosuch'" in r.stderr
