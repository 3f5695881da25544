"""The resolver: dedupe, one batch per provider, concurrent, per-provider deadline,
#field selection, every failure collected, fail closed."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

import pytest

from paneseal.errors import (
    FieldNotFound,
    InvalidValue,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceSyntaxError,
    ResolutionFailed,
    SecretNotFound,
    UnknownScheme,
)
from paneseal.providers.base import Fetched, Provider, ProviderContext
from paneseal.refs import SecretRef
from paneseal.resolve import Request, parse_field_document, resolve, select


class Fake:
    """A provider whose answers, delay and failures the test decides."""

    scheme: ClassVar[str] = "fake"

    def __init__(
        self,
        answers: Mapping[str, Fetched | ProviderError] | None = None,
        delay: float = 0.0,
        crash: bool = False,
    ) -> None:
        self.answers = dict(answers or {})
        self.delay = delay
        self.crash = crash
        self.calls: list[list[str]] = []
        self.closed = False

    def validate(self, ref: SecretRef) -> None:
        if ref.locator.startswith("bad"):
            raise ReferenceSyntaxError(f"{ref}: bad locator")

    def fetch_many(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, Fetched | ProviderError]:
        self.calls.append([str(r) for r in refs])
        if self.delay:
            time.sleep(self.delay)
        if self.crash:
            raise RuntimeError("boom")
        return {r: self.answers[r.locator] for r in refs if r.locator in self.answers}

    def close(self) -> None:
        self.closed = True


def req(name: str, ref: str, optional: bool = False) -> Request:
    return Request(name, SecretRef.parse(ref), optional)


def ctx(timeout: float = 5.0) -> ProviderContext:
    return ProviderContext(timeout=timeout)


def test_dedupe_and_one_batch() -> None:
    doc = Fetched(value='{"user": "u", "password": "p"}')
    fake = Fake({"db": doc, "other": Fetched(value="o")})
    res = resolve(
        [
            req("U", "a://db#user"),
            req("P", "a://db#password"),
            req("U2", "a://db#user"),
            req("O", "a://other"),
        ],
        providers={"a": fake},
    )
    assert fake.calls == [["a://db", "a://other"]]  # one call, each base ref once
    assert {k: v.reveal() for k, v in res.values().items()} == {
        "U": "u",
        "P": "p",
        "U2": "u",
        "O": "o",
    }
    assert res.failures == []


def test_providers_run_concurrently() -> None:
    a = Fake({"x": Fetched(value="1")}, delay=0.6)
    b = Fake({"y": Fetched(value="2")}, delay=0.6)
    t0 = time.monotonic()
    res = resolve([req("X", "a://x"), req("Y", "b://y")], providers={"a": a, "b": b})
    elapsed = time.monotonic() - t0
    assert res.failures == []
    assert elapsed < 1.1, elapsed  # sequential would be >= 1.2 s


def test_per_provider_deadline() -> None:
    slow = Fake({"x": Fetched(value="1")}, delay=3)
    fast = Fake({"y": Fetched(value="2")})
    t0 = time.monotonic()
    res = resolve(
        [req("X", "slow://x"), req("X2", "slow://x2"), req("Y", "fast://y")],
        lambda scheme: ctx(0.3 if scheme == "slow" else 5),
        providers={"slow": slow, "fast": fast},
    )
    assert time.monotonic() - t0 < 2
    assert [f.name for f in res.failures] == ["X", "X2"]
    assert all(isinstance(f.error, ProviderTimeout) for f in res.failures)
    assert "no answer within 0.3 s" in res.failures[0].line()
    assert res.values()["Y"].reveal() == "2"
    # each failure carries its own reference, not a shared one
    assert [str(f.error.ref) for f in res.failures] == ["slow://x", "slow://x2"]  # type: ignore[union-attr]


def test_crash_is_contained() -> None:
    res = resolve([req("X", "c://x")], providers={"c": Fake(crash=True)})
    (failure,) = res.failures
    assert isinstance(failure.error, ProviderUnavailable)
    assert "provider crashed (RuntimeError)" in failure.line()


def test_missing_answer_and_errors_per_ref() -> None:
    fake = Fake(
        {"gone": SecretNotFound("no such secret", hint="create it"), "ok": Fetched(value="v")}
    )
    res = resolve(
        [req("G", "f://gone"), req("N", "f://noanswer"), req("O", "f://ok")],
        providers={"f": fake},
    )
    lines = [f.line() for f in res.failures]
    assert lines == [
        "G: f://gone [f] not found: no such secret (create it)",
        "N: f://noanswer [f] unavailable: the provider returned no answer for this reference",
    ]
    with pytest.raises(ResolutionFailed) as info:
        res.raise_if_failed()
    assert "2 required secrets failed" in str(info.value)
    assert info.value.report_lines() == lines


def test_optional_becomes_warning() -> None:
    res = resolve([req("O", "f://missing", optional=True)], providers={"f": Fake()})
    assert res.failures == []
    assert [w.name for w in res.warnings] == ["O"]
    res.raise_if_failed()  # does not raise
    assert res.values() == {}


def test_validate_and_unknown_scheme_collected_with_the_rest() -> None:
    fake = Fake({"ok": Fetched(value="v")})
    res = resolve(
        [req("B", "f://bad1"), req("U", "nosuch-scheme://x"), req("O", "f://ok")],
        providers={"f": fake},
    )
    assert [type(f.error) for f in res.failures] == [ReferenceSyntaxError, UnknownScheme]
    assert "installed schemes:" in res.failures[1].line() and "store" in res.failures[1].line()
    assert fake.calls == [["f://ok"]]


def test_nul_value_rejected() -> None:
    res = resolve([req("N", "f://n")], providers={"f": Fake({"n": Fetched(value="a\x00b")})})
    (failure,) = res.failures
    assert isinstance(failure.error, InvalidValue)
    assert "\x00" not in failure.line()


def test_closes_only_its_own_providers() -> None:
    given = Fake({"x": Fetched(value="1")})
    resolve([req("X", "g://x")], providers={"g": given})
    assert not given.closed  # the caller owns it


FIELD_DOCS = [
    ("json", '{"user": "u", "n": 3, "flag": true, "nested": {"a": 1}}', "user", "u"),
    ("json-number", '{"n": 3}', "n", "3"),
    ("json-bool", '{"flag": true}', "flag", "true"),
    ("json-nested", '{"nested": {"b": 1, "a": 2}}', "nested", '{"a":2,"b":1}'),
    ("kv", "user: admin\npassword: p: with colon\n", "password", "p: with colon"),
    ("env-style", "USER=admin\nTOKEN=abc=def\n", "TOKEN", "abc=def"),
    ("yaml-nested", "db:\n  host: h\nuser: u\n", "user", "u"),
]


@pytest.mark.parametrize(
    ("text", "field", "want"), [d[1:] for d in FIELD_DOCS], ids=[d[0] for d in FIELD_DOCS]
)
def test_field_selection(text: str, field: str, want: str) -> None:
    assert select(Fetched(value=text), SecretRef("x", "y", (), field)) == want


def test_field_errors() -> None:
    with pytest.raises(FieldNotFound, match="no field 'nope'") as info:
        select(Fetched(value='{"a": "secret-a"}'), SecretRef("x", "y", (), "nope"))
    assert "fields present: a" in str(info.value)
    assert "secret-a" not in str(info.value)
    with pytest.raises(FieldNotFound, match="not JSON, YAML"):
        select(Fetched(value="just a password"), SecretRef("x", "y", (), "f"))
    with pytest.raises(FieldNotFound, match="several fields"):
        select(Fetched(fields={"a": "1", "b": "2"}), SecretRef("x", "y"))
    assert select(Fetched(fields={"only": "1"}), SecretRef("x", "y")) == "1"
    assert parse_field_document("no structure here") is None


def test_threads_do_not_outlive_the_deadline_forever() -> None:
    """A hung provider's thread is a daemon: it cannot keep the process alive."""
    before = threading.active_count()
    resolve([req("X", "h://x")], lambda s: ctx(0.1), providers={"h": Fake(delay=1)})
    hung = [t for t in threading.enumerate() if t.name == "paneseal-h"]
    assert all(t.daemon for t in hung)
    assert threading.active_count() <= before + 1


def test_fake_satisfies_the_protocol() -> None:
    assert isinstance(Fake(), Provider)
