"""The exit-code table in docs/exit-codes.md is the one in cli/exitcodes.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paneseal import errors as e
from paneseal.cli.exitcodes import TABLE, code_for
from paneseal.refs import SecretRef

DOC = Path(__file__).parent.parent / "docs" / "exit-codes.md"


def _doc_rows() -> list[tuple[str, int, str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        m = re.fullmatch(r"\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|\s*(.+?)\s*\|", line)
        if m:
            rows.append((m.group(2), int(m.group(1)), m.group(3)))
    return rows


def test_doc_table_matches_code() -> None:
    assert _doc_rows() == [(cls.__name__, code, meaning) for cls, code, meaning in TABLE]


def test_every_error_class_is_covered() -> None:
    """Each class of the tree maps to the code of its nearest listed ancestor."""
    classes = [
        c for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.PanesealError)
    ]
    assert len(classes) >= 15
    for cls in classes:
        expected = next(code for listed, code, _ in TABLE if issubclass(cls, listed))
        instance = _make(cls)
        assert code_for(instance) == expected, cls


def _make(cls: type[e.PanesealError]) -> e.PanesealError:
    if issubclass(cls, e.UnknownScheme):
        return cls("x", ["store"])
    if issubclass(cls, e.ResolutionFailed):
        return cls([])
    if issubclass(cls, e.ConfigError):
        return cls("what", e.Location("f", 1, "k"))
    if issubclass(cls, e.ProviderError):
        return cls("reason", ref=SecretRef.parse("store://x"), provider="store")
    return cls("message")


def test_subclasses_listed_before_bases() -> None:
    for i, (cls, _, _) in enumerate(TABLE):
        for later, _, _ in TABLE[i + 1 :]:
            assert not issubclass(later, cls) or later is cls, (cls, later)


@pytest.mark.parametrize("exc", [ValueError("x"), KeyboardInterrupt()], ids=["value", "kbd"])
def test_foreign_exceptions_are_1(exc: BaseException) -> None:
    assert code_for(exc) == 1
