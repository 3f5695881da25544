"""The shim's parts on their own: tmux quoting (round trip through a real tmux), argv
parsing, and the broker's refusals."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paneseal.tmux import argv as targv
from paneseal.tmux import wire
from paneseal.tmux.broker import Broker, BrokerRefused, ask
from paneseal.tmux.plan import Delivery
from paneseal.tmux.quoting import command
from tmux.tmuxhelp import Home, canary, wait_until

HOSTILE = {
    "quotes": "a\"b'c",
    "dollar": "$HOME ${X} $(id) `id`",
    "tilde": "~ ~root ~/x",
    "format": "#{session_name} #[fg=red] %if 1 %endif",
    "backslash": "\\ \\\\ \\n \\0 \\x41 end\\",
    "controls": "line1\nline2\tx\ry\x01\x1b[31m\x7f",
    "unicode": "ü € 🎉 \u202e",
    "semicolon": "a ; kill-server ; b \\;",
    "leading-hash": "\n# comment-looking line\n  indented",
    "empty": "",
    "big": "x" * 65536,
}


@pytest.fixture
def server(home: Home) -> Iterator[list[str]]:
    sock = ["-S", str(home.root / "tmux" / "q.sock")]
    subprocess.run(["tmux", *sock, "-f", "/dev/null", "new-session", "-d", "-s", "Q"], check=True)
    yield sock
    subprocess.run(["tmux", *sock, "kill-server"], capture_output=True, check=False)


def roundtrip(sock: list[str], value: str) -> bytes:
    line = command(["set-environment", "-t", "Q", "K", value]) + "\n"
    subprocess.run(
        ["tmux", *sock, "source-file", "-"], input=line.encode("utf-8", "surrogatepass"), check=True
    )
    out = subprocess.run(["tmux", *sock, "show-environment", "-t", "Q", "K"], capture_output=True)
    return out.stdout


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_quoting_round_trips_through_tmux(server: list[str], value: str) -> None:
    assert roundtrip(server, value) == b"K=" + value.encode() + b"\n"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")))
def test_quoting_round_trips_any_text(server: list[str], value: str) -> None:
    assert roundtrip(server, value) == b"K=" + value.encode() + b"\n"


G = ("-u", "-L", "sock", "-f", "/dev/null")
ARGV_CASES: dict[str, tuple[list[str], tuple[str, ...], str, dict[str, str | None]]] = {
    "plain": (["new-session", "-d", "-s", "web", "-n", "ed"], (), "new-session", {"s": "web"}),
    "globals": ([*G, "new", "-d", "-sweb"], G, "new", {"s": "web"}),
    "joined-global": (
        ["-Lsock", "-2", "neww", "-c", "/r", "-t", "web:3", "-n", "x"],
        ("-Lsock", "-2"),
        "neww",
        {"t": "web:3"},
    ),
    "split": (["splitw", "-c", "/r", "-t", "web:1"], (), "splitw", {"t": "web:1", "s": None}),
    "send-keys-mentions-new": (
        ["send-keys", "-t", "web:0", "new-session", "C-m"],
        (),
        "send-keys",
        {"t": None},
    ),
}


@pytest.mark.parametrize("case", list(ARGV_CASES), ids=list(ARGV_CASES))
def test_argv_parsing(case: str) -> None:
    argv, globals_, cmd, options = ARGV_CASES[case]
    parsed = targv.parse(argv)
    assert parsed.globals == globals_
    assert parsed.command == cmd
    for letter, value in options.items():
        assert parsed.option(letter) == value
    if "-L" in globals_ or "-Lsock" in globals_:
        assert parsed.socket_name == "sock"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("web:3", ("web", "3")), ("web:3.1", ("web", "3")), ("web", None), (None, None)],
    ids=["window", "pane", "session-only", "none"],
)
def test_split_target(target: str | None, expected: tuple[str, str] | None) -> None:
    assert targv.split_target(target) == expected


def req(op: str, **kw: str) -> list[tuple[str, str]]:
    return [("op", op), ("session", "web"), ("token", "t0ken"), *kw.items()]


def names(items: list[tuple[str, str]], kind: str = "e") -> set[str]:
    return {item.split("=", 1)[0] for k, item in items if k == kind}


@pytest.fixture
def broker() -> Iterator[Broker]:
    d = Path(tempfile.mkdtemp(prefix="psb", dir="/tmp"))
    d.chmod(0o700)
    delivery = Delivery({"P": canary()}, {0: {"W0": canary()}, 2: {"W2": canary()}})
    b = Broker(delivery, d / "b.sock", token="t0ken", session="web", targets_path=d / "targets")
    b.ready.set()
    t = b.start_thread()
    yield b
    b.stop()
    t.join(5)
    shutil.rmtree(d)


def test_broker_serves_the_session_once_then_windows(broker: Broker) -> None:
    path = str(broker.path)
    with pytest.raises(BrokerRefused, match="not the one being started"):
        ask(path, req("window", position="2"))
    reply = ask(path, req("session"))
    assert names(reply) == {"P", "W0"}
    assert names(reply, "r") == {"W0"}  # first-window-only name removed afterwards
    with pytest.raises(BrokerRefused, match="already handed out"):
        ask(path, req("session"))
    assert names(ask(path, req("window", position="2"))) == {"W2"}
    assert names(ask(path, req("window", position="1"))) == set()
    with pytest.raises(BrokerRefused, match="need-base"):
        ask(path, req("window", index="3"))
    ask(path, req("base", base="1"))
    assert (Path(path).parent / "targets").read_text() == "web:1\nweb:3\n"
    assert names(ask(path, req("window", index="3"))) == {"W2"}
    ask(path, req("done"))
    wait_until(lambda: not Path(path).exists())
    assert broker.delivery.project == {} and broker.delivery.windows == {}


def test_broker_answers_nothing_before_ready() -> None:
    d = Path(tempfile.mkdtemp(prefix="psb", dir="/tmp"))
    b = Broker(Delivery({"P": "x"}), d / "b.sock", token="t", session="web")
    t = b.start_thread()
    try:
        with pytest.raises(BrokerRefused, match="not resolved yet"):
            ask(str(b.path), [("op", "session"), ("session", "web"), ("token", "t")])
    finally:
        b.stop()
        t.join(5)
        shutil.rmtree(d)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        ([("op", "session"), ("session", "web")], "wrong token"),
        ([("op", "session"), ("session", "web"), ("token", "guess")], "wrong token"),
        ([("op", "session"), ("session", "other"), ("token", "t0ken")], "not the one"),
        (req("dump"), "unknown request"),
        ([("op", "session"), ("token", "t0ken")], "no session named"),
    ],
    ids=["no-token", "bad-token", "other-session", "unknown-op", "no-session"],
)
def test_broker_refuses(broker: Broker, request_: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(BrokerRefused, match=reason):
        ask(str(broker.path), request_)
    # and the refusal did not consume the session's one hand-out
    assert names(ask(str(broker.path), req("session"))) == {"P", "W0"}


def test_shadowed_name_is_restored_for_later_panes() -> None:
    d = Delivery({"DB": "project", "P": "p"}, {0: {"DB": "window0"}})
    env, after = d.session_env()
    assert env == {"DB": "window0", "P": "p"}
    assert after == {"DB": "project"}


def test_wire_round_trips_hostile_values() -> None:
    items = [("e", f"K={v}") for v in HOSTILE.values()]
    assert wire.decode(wire.encode(items)) == items
