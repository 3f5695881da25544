"""SecretRef: strict parsing, exact round trip, and only ReferenceSyntaxError for garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paneseal.errors import ReferenceSyntaxError
from paneseal.refs import SecretRef
from paneseal.secret import Secret

VALID = [
    ("store", "store://db_password", ("store", "db_password", (), None)),
    ("field", "vault://secret/app#password", ("vault", "secret/app", (), "password")),
    (
        "params",
        "vault://secret/app?version=3&mount=kv#user",
        ("vault", "secret/app", (("version", "3"), ("mount", "kv")), "user"),
    ),
    ("empty-param", "aws-sm://prod/db?stage=", ("aws-sm", "prod/db", (("stage", ""),), None)),
    ("eq-in-value", "x://a?k=a=b", ("x", "a", (("k", "a=b"),), None)),
    ("exec", "exec://summon-conjur/prod/db", ("exec", "summon-conjur/prod/db", (), None)),
    ("user-no-pass", "ssh+x://deploy@host/k", ("ssh+x", "deploy@host/k", (), None)),
    ("unicode", "pass://équipe/clé", ("pass", "équipe/clé", (), None)),
    ("colon-after-slash", "op://vault/item:x@y", ("op", "vault/item:x@y", (), None)),
]


@pytest.mark.parametrize(
    ("text", "parts"), [(t, p) for _, t, p in VALID], ids=[i for i, *_ in VALID]
)
def test_parse_valid(text: str, parts: tuple[object, ...]) -> None:
    ref = SecretRef.parse(text)
    assert (ref.scheme, ref.locator, ref.params, ref.field) == parts
    assert str(ref) == text
    assert SecretRef.parse(str(ref)) == ref


INVALID = [
    ("no-scheme", "db_password", "expected scheme://locator"),
    ("upper-scheme", "Store://x", "invalid scheme"),
    ("empty-locator", "store://", "empty locator"),
    ("empty-field", "store://x#", "empty #field"),
    ("two-hashes", "store://x#a#b", "more than one '#'"),
    ("empty-query", "vault://a?", "empty query"),
    ("bad-query", "vault://a?novalue", "bad query item"),
    ("trailing-amp", "vault://a?k=v&", "bad query item"),
    ("dup-param", "vault://a?k=1&k=2", "given twice"),
    ("credentials", "vault://user:hunter2@host/secret", "credentials inside a reference"),
    ("newline", "store://a\nb", "control character U+000A"),
    ("tab", "store://a\tb", "control character U+0009"),
    ("del", "store://a\x7fb", "control character U+007F"),
    ("c1", "store://a\x85b", "control character U+0085"),
    ("nul", "store://a\x00b", "control character U+0000"),
    ("spaces", " store://x", "white space"),
    ("too-long", "store://" + "a" * 5000, "longer than"),
]


@pytest.mark.parametrize(
    ("text", "message"), [(t, m) for _, t, m in INVALID], ids=[i for i, *_ in INVALID]
)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(ReferenceSyntaxError, match=None) as info:
        SecretRef.parse(text)
    assert message in str(info.value)


def test_credentials_never_echoed() -> None:
    with pytest.raises(ReferenceSyntaxError) as info:
        SecretRef.parse("vault://admin:s3cr3tpw@vault.example/kv")
    assert "s3cr3tpw" not in str(info.value)


def test_non_string_rejected() -> None:
    with pytest.raises(ReferenceSyntaxError, match="must be a string"):
        SecretRef.parse(42)  # type: ignore[arg-type]


def test_base_and_param() -> None:
    ref = SecretRef.parse("vault://kv/app?version=2#user")
    assert str(ref.base) == "vault://kv/app?version=2"
    base = ref.base
    assert base.base is base
    assert ref.param("version") == "2"
    assert ref.param("missing", "d") == "d"


def test_secret_never_shows_value() -> None:
    value = "V4LUE-" + "q" * 8
    s = Secret(SecretRef.parse("store://x"), value)
    for shown in (str(s), repr(s), f"{s}", f"{s!r}", f"{s:>40}", str([s]), str({"k": s})):
        assert value not in shown
        assert "store://x" in shown
    assert s.reveal() == value


# ----------------------------------------------------------------------------- fuzzing

_scheme = st.from_regex(r"[a-z][a-z0-9+.-]{0,10}", fullmatch=True)
_plain = st.characters(
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="#?&"
)
_locator = (
    st.text(_plain, min_size=1, max_size=30)
    # ``user:pass@`` before the first slash is rejected on purpose (credentials)
    .filter(lambda s: "@" not in s.split("/")[0] or ":" not in s.split("/")[0])
)
_key = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
_value = st.text(_plain, max_size=12)
_field = st.text(_plain.filter(lambda c: c != "#"), min_size=1, max_size=12)


@st.composite
def valid_refs(draw: st.DrawFn) -> str:
    text = f"{draw(_scheme)}://{draw(_locator)}"
    keys = draw(st.lists(_key, max_size=3, unique=True))
    if keys:
        text += "?" + "&".join(f"{k}={draw(_value)}" for k in keys)
    if draw(st.booleans()):
        text += "#" + draw(_field)
    return text


@settings(max_examples=300, deadline=None)
@given(valid_refs())
def test_round_trip_generated(text: str) -> None:
    ref = SecretRef.parse(text)
    assert str(ref) == text
    assert SecretRef.parse(str(ref)) == ref


_garbage_alphabet = st.sampled_from(
    [*"ab:/?#&=@ \t\n\x00\x1b\x85é", "://", "?k=", "#f", "user:pw@"]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(_garbage_alphabet, max_size=25).map("".join)))
def test_garbage_only_raises_syntax_error(text: str) -> None:
    """Any text either parses and prints back as itself, or raises ReferenceSyntaxError."""
    try:
        ref = SecretRef.parse(text)
    except ReferenceSyntaxError as exc:
        assert str(exc)
        assert "\n" not in str(exc)
        return
    assert str(ref) == text
