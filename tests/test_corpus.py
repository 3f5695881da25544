"""Every real tmuxinator project of the shared corpus goes through project loading, as
written and with a secrets: block added at the top level and in a window.  Nothing may
escape as anything but a ConfigError, and a file that tmuxinator itself cannot read gets
a ConfigError naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from paneseal.config import erb_tags, mask_erb, parse_project
from paneseal.errors import ConfigError
from pshelp import CORPUS, NO_CORPUS

FILES = (
    sorted(p for p in CORPUS.glob("*") if p.suffix in (".yml", ".yaml")) if CORPUS.is_dir() else []
)

pytestmark = pytest.mark.skipif(not FILES, reason=NO_CORPUS)

TOP_BLOCK = "\nsecrets:\n  CORPUS_SECRET: store://corpus_secret\n"


def _is_yaml(text: str) -> bool:
    try:
        yaml.safe_load(mask_erb(text, erb_tags(text)))
    except yaml.YAMLError:
        return False
    return True


def _load(path: Path, text: str) -> tuple[str, object]:
    try:
        return "ok", parse_project(path, text)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "\n" not in message
        return "error", exc


def _with_window_block(text: str) -> str | None:
    """Insert a secrets: block into the first window written as ``- name:`` + mapping."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)- ([\w.-]+):\s*$", line)
        if m and i + 1 < len(lines):
            nxt = re.match(r"^(\s*)[\w-]+:", lines[i + 1])  # the window's body is a mapping
            if nxt and len(nxt.group(1)) > len(m.group(1)) + 1:
                indent = nxt.group(1)
                block = [f"{indent}secrets:", f"{indent}  WINDOW_SECRET: store://window_secret"]
                return "\n".join(lines[: i + 1] + block + lines[i + 1 :])
    return None


def test_corpus_counts() -> None:
    """The corpus is big enough for the claims below to mean something."""
    assert len(FILES) >= 100


def test_corpus_only_broken_files_fail() -> None:
    """Every file that fails to load is one tmuxinator could not use either: not YAML even
    with ERB masked.  (A pane *titled* ``secrets`` once tripped the pane check.)"""
    for path in FILES:
        text = path.read_text("utf-8", "replace")
        try:
            parse_project(path, text)
        except ConfigError as exc:
            assert not _is_yaml(text), str(exc)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file(path: Path) -> None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(ConfigError, match="not valid UTF-8"):
            parse_project(path)
        return

    status, _ = _load(path, text)
    yaml_ok = _is_yaml(text)
    if yaml_ok or erb_tags(text):
        pass  # either outcome can be right; what matters is no other exception
    else:
        assert status == "error", "a file that is not YAML must get a ConfigError"

    # with a top-level block: whenever the file loaded, the secret is seen
    status2, proj = _load(path, text.rstrip("\n") + "\n" + TOP_BLOCK)
    if status == "ok" and status2 == "ok":
        names = [d.name for d in proj.secrets]  # type: ignore[attr-defined]
        if "secrets" not in re.findall(r"^(\w+):", text, re.MULTILINE):
            assert names == ["CORPUS_SECRET"]

    windowed = _with_window_block(text)
    if windowed is not None:
        status3, proj3 = _load(path, windowed)
        if status3 == "ok" and yaml_ok:
            found = [d.name for d in proj3.all_secrets()]  # type: ignore[attr-defined]
            assert "WINDOW_SECRET" in found


def test_corpus_blocks_are_found() -> None:
    """Added blocks are actually read: top level in (nearly) every file, window level in
    most files whose windows are written as hashes."""
    top = tried = found = 0
    for path in FILES:
        text = path.read_text("utf-8", "replace")
        status, proj = _load(path, text.rstrip("\n") + "\n" + TOP_BLOCK)
        if status == "ok" and any(d.name == "CORPUS_SECRET" for d in proj.secrets):  # type: ignore[attr-defined]
            top += 1
        windowed = _with_window_block(text)
        if windowed is not None:
            tried += 1
            status, proj = _load(path, windowed)
            if status == "ok" and any(d.name == "WINDOW_SECRET" for d in proj.all_secrets()):  # type: ignore[attr-defined]
                found += 1
    assert top >= 0.95 * len(FILES), (top, len(FILES))
    assert tried >= 100 and found >= 0.95 * tried, (found, tried)


def test_corpus_mostly_loads() -> None:
    """Real projects are overwhelmingly readable: a loader that rejected them would be
    useless, so require that at least 90 % load with a block added."""
    ok = 0
    for path in FILES:
        try:
            text = path.read_text("utf-8")
            parse_project(path, text.rstrip("\n") + "\n" + TOP_BLOCK)
            ok += 1
        except (ConfigError, UnicodeDecodeError):
            continue
    assert ok >= 0.9 * len(FILES), f"only {ok} of {len(FILES)} loaded"
