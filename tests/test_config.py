"""Project files: lookup as tmuxinator does, the secrets: block, and errors naming
file, line and key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paneseal.config import (
    RESERVED_NAMES,
    all_projects,
    erb_tags,
    find_project,
    load_project,
    mask_erb,
    parse_project,
)
from paneseal.errors import ConfigError, ProjectNotFound
from pshelp import Home

GOOD = """\
name: shop
root: ~/src/shop
secrets:
  DB_PASSWORD: store://db_password
  API_TOKEN: {ref: vault://kv/shop#token, optional: true}
windows:
  - editor: vim
  - server:
      layout: main-vertical
      secrets:
        STRIPE_KEY: aws-sm://prod/stripe#key
      panes:
        - rails s
        - tail -f log/development.log
"""


def write(tmp: Path, text: str, name: str = "p.yml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text))
    return path


def test_parse_good(tmp_path: Path) -> None:
    proj = parse_project(write(tmp_path, GOOD))
    assert proj.name == "shop"
    assert [(d.name, str(d.ref), d.optional, d.scope) for d in proj.secrets] == [
        ("DB_PASSWORD", "store://db_password", False, "project"),
        ("API_TOKEN", "vault://kv/shop#token", True, "project"),
    ]
    assert [w.name for w in proj.windows] == ["editor", "server"]
    (stripe,) = proj.windows[1].secrets
    assert (stripe.name, stripe.window, stripe.scope) == ("STRIPE_KEY", 1, "window")
    assert stripe.location.line == 11
    assert stripe.location.key_path == "windows[1].server.secrets.STRIPE_KEY"
    assert [d.name for d in proj.all_secrets()] == ["DB_PASSWORD", "API_TOKEN", "STRIPE_KEY"]


def test_pane_titled_secrets_is_a_pane(tmp_path: Path) -> None:
    """tmuxinator 3 pane titles: ``- secrets: [commands]`` is a pane named secrets."""
    text = "windows:\n  - ci:\n      panes:\n        - secrets:\n            - gitleaks detect\n"
    proj = parse_project(write(tmp_path, text))
    assert proj.windows[0].secrets == ()
    proj = parse_project(write(tmp_path, "windows:\n  - w:\n      panes:\n        - secrets: ls\n"))
    assert list(proj.all_secrets()) == []


def test_erb_elsewhere_is_fine(tmp_path: Path) -> None:
    text = """\
    name: <%= @settings["name"] %>
    root: <%= ENV["HOME"] %>/src
    secrets:
      DB_PASSWORD: store://db
    windows:
    <% %w(a b).each do |w| %>
      - <%= w %>: echo <%= w %>
    <% end %>
    """
    proj = parse_project(write(tmp_path, text))
    assert proj.has_erb
    assert [d.name for d in proj.secrets] == ["DB_PASSWORD"]
    assert proj.settings["name"] is None  # only tmuxinator can know it


ERB_NEXT_TO_BLOCK = [
    ("window-sibling-key", "windows:\n  - w:\n      secrets:\n        A: store://a\n"
     "      root: <%= ENV['X'] %>\n      panes: [vim]\n"),
    ("nested-entry-then-erb", "windows:\n  - w:\n      secrets:\n        A:\n"
     "          ref: store://a\n          optional: true\n      root: <%= x %>\n"),
    ("block-scalar", "secrets:\n  A: |-\n    store://a\nroot: <%= x %>\n"),
    ("top-then-erb", "secrets:\n  A: store://a\nroot: <%= ENV['X'] %>\n"),
    ("flow", "secrets: {A: store://a}\nroot: <%= x %>\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    "text", [e[1] for e in ERB_NEXT_TO_BLOCK], ids=[e[0] for e in ERB_NEXT_TO_BLOCK]
)
def test_erb_right_after_a_block_is_not_in_it(tmp_path: Path, text: str) -> None:
    proj = parse_project(write(tmp_path, text))
    assert [d.name for d in proj.all_secrets()] == ["A"]


def test_erb_that_breaks_yaml_uses_fallback(tmp_path: Path) -> None:
    text = """\
    name: x
    secrets:
      DB_PASSWORD: store://db   # comment
      OTHER: env://CI_TOKEN
    windows:
      <% if true %>
      - a: ls
      <% else %>
    - : : broken {{
      <% end %>
    """
    proj = parse_project(write(tmp_path, text))
    assert not proj.yaml_valid
    assert [(d.name, d.location.line) for d in proj.secrets] == [
        ("DB_PASSWORD", 3),
        ("OTHER", 4),
    ]


def test_fallback_reads_settings_and_overrides(tmp_path: Path) -> None:
    """ERB that makes the file non-YAML still leaves name, tmux_command and the paneseal:
    block readable (the session name and the opt-in depend on them)."""
    text = """\
    name: shop
    root: ~/src/<%= @settings["app"] %>
    tmux_command: paneseal-tmux
    socket_name: "quoted"
    <% if ENV["A"] %>
    startup_window: a
    <% else %>
    startup_window: b
    <% end %>
    secrets:
      DB: store://db
    paneseal:
      providers:
        exec: {timeout: 0}
    windows:
      <% %w(a b).each do |w| %>
      - <%= w %>:
          panes:
            - secrets:
                - gitleaks detect
      <% end %>
    - : {
    """
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:  # the override's line is still found
        parse_project(path)
    assert str(info.value).startswith(f"{path}:14: paneseal.providers.exec.timeout")
    path.write_text(path.read_text().replace("timeout: 0", "timeout: 2"))
    proj = parse_project(path)
    assert not proj.yaml_valid
    assert proj.settings == {
        "name": "shop",
        "root": None,
        "tmux_command": "paneseal-tmux",
        "socket_name": "quoted",
        "startup_window": None,  # written twice in ERB branches: unknowable
    }
    assert proj.name == "shop"
    assert proj.provider_overrides == {"exec": {"timeout": 2}}
    assert [d.name for d in proj.secrets] == ["DB"]


def test_fallback_window_block_is_an_error(tmp_path: Path) -> None:
    text = (
        "name: x\nwindows:\n<% 2.times do %>\n  - w:\n      secrets:\n        A: store://a\n- : {\n"
    )
    with pytest.raises(ConfigError, match="needs the file to be valid YAML") as info:
        parse_project(write(tmp_path, text))
    assert info.value.location is not None and info.value.location.line == 5


# (id, project text, expected line, expected key path, words in the message)
ERRORS = [
    (
        "bad-name",
        "secrets:\n  DB-URL: store://x\n",
        2,
        "secrets.DB-URL",
        "not a valid environment variable name",
    ),
    ("digit-name", "secrets:\n  1X: store://x\n", 2, "secrets.1X", "not a valid environment"),
    ("reserved", "secrets:\n  A: store://a\n  PATH: store://x\n", 3, "secrets.PATH", "PATH"),
    ("reserved-prefix", "secrets:\n  LD_FOO: store://x\n", 2, "secrets.LD_FOO", "LD_"),
    ("own-prefix", "secrets:\n  PANESEAL_X: store://x\n", 2, "secrets.PANESEAL_X", "reserved"),
    ("erb-in-block", "secrets:\n  A: <%= ENV['X'] %>\n", 2, "secrets", "ERB is not allowed"),
    (
        "erb-tag-line",
        "secrets:\n  A: store://a\n<% if x %>\n  B: store://b\n<% end %>\n",
        3,
        "secrets",
        "ERB",
    ),
    ("bad-ref", "secrets:\n  A: store//x\n", 2, "secrets.A", "not a reference"),
    ("cred-ref", "secrets:\n  A: vault://u:pw@h/x\n", 2, "secrets.A", "credentials"),
    (
        "duplicate",
        "secrets:\n  A: store://a\n  A: store://b\n",
        3,
        "secrets.A",
        "declared twice",
    ),
    (
        "optional-not-bool",
        "secrets:\n  A:\n    ref: store://a\n    optional: maybe\n",
        4,
        "secrets.A.optional",
        "optional must be true or false",
    ),
    (
        "unknown-key",
        "secrets:\n  A: {ref: store://a, default: x}\n",
        2,
        "secrets.A.default",
        "unknown key",
    ),
    ("no-ref", "secrets:\n  A: {optional: true}\n", 2, "secrets.A", "no ref"),
    ("null-ref", "secrets:\n  A:\n", 2, "secrets.A", "no reference"),
    ("list-block", "secrets:\n  - A\n", 2, "secrets", "must be a mapping"),
    (
        "window-bad-name",
        "windows:\n  - editor: vim\n  - one: ls\n  - server:\n      secrets:\n        bad name: store://x\n",
        6,
        "windows[2].server.secrets.bad name",
        "not a valid environment variable name",
    ),
    (
        "window-bad-ref",
        "windows:\n  - editor: vim\n  - one: ls\n  - server:\n"
        "      secrets:\n        DB_URL: nope\n",
        6,
        "windows[2].server.secrets.DB_URL",
        "not a reference",
    ),
    (
        "pane-secrets",
        "windows:\n  - w:\n      panes:\n        - ls\n        - secrets: {A: store://a}\n",
        5,
        "windows[0].w.panes[1].secrets",
        "cannot be set on a single pane",
    ),
    (
        "window-sibling",
        "windows:\n  - editor:\n    layout: tiled\n    secrets:\n      A: store://a\n",
        4,
        "windows[0].secrets",
        "not inside it",
    ),
    ("not-mapping", "- a\n- b\n", 1, "", "must be a mapping"),
    ("bad-yaml", "name: [x\nroot: y\n", 2, "", "not valid YAML"),
    ("nul-char", "name: x\nroot: a\x00b\n", 2, "", "#x0000 is not allowed"),
    ("too-deep", "x: " + "[" * 100_000 + "]" * 100_000 + "\n", None, "", "200 levels"),
]


@pytest.mark.parametrize(
    ("text", "line", "key_path", "words"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_config_errors_name_file_line_key(
    tmp_path: Path, text: str, line: int | None, key_path: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        parse_project(path)
    err = info.value
    assert err.location is not None
    assert err.location.file == str(path)
    assert err.location.line == line
    assert err.location.key_path == key_path
    message = str(err)
    assert words in message
    assert message.startswith(f"{path}:{line}" if line else f"{path}: ")
    if key_path:
        assert key_path in message
    assert "\n" not in message


def test_reserved_names_each_have_a_reason() -> None:
    for name, reason in RESERVED_NAMES.items():
        assert name.isupper()
        assert reason and not reason.endswith(".")
    for must in ("PATH", "HOME", "SHELL", "TMUX", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH"):
        assert must in RESERVED_NAMES
    for must in ("BASH_ENV", "ENV", "PROMPT_COMMAND", "IFS"):
        assert must in RESERVED_NAMES


def test_reserved_names_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "secrets-block.md").read_text()
    for name in RESERVED_NAMES:
        assert f"`{name}`" in doc, name


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_bytes(b"name: x\nroot: \xff\n")
    with pytest.raises(ConfigError, match="not valid UTF-8") as info:
        parse_project(path)
    assert info.value.location is not None
    assert info.value.location.line == 2


def test_mask_erb_keeps_positions() -> None:
    text = "a: <%= x %>\n<% if y\n  z %>\nb: 1\n"
    tags = erb_tags(text)
    masked = mask_erb(text, tags)
    assert len(masked) == len(text)
    assert [i for i, c in enumerate(masked) if c == "\n"] == [
        i for i, c in enumerate(text) if c == "\n"
    ]
    assert "<%" not in masked
    assert [(t.first_line, t.last_line) for t in tags] == [(0, 0), (1, 2)]


# ----------------------------------------------------------------------------- lookup


def test_find_project_search_order(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xdg = home.tmuxinator / "sub" / "deep"
    xdg.mkdir(parents=True)
    (xdg / "shop.yml").write_text("name: shop\n")
    legacy = home.root / ".tmuxinator"
    legacy.mkdir()
    (legacy / "shop.yml").write_text("name: legacy\n")
    (legacy / "old.yml").write_text("name: old\n")
    assert find_project("shop") == xdg / "shop.yml"  # recursive, XDG before ~/.tmuxinator
    assert find_project("old") == legacy / "old.yml"
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "shop.yaml").write_text("name: custom\n")
    monkeypatch.setenv("TMUXINATOR_CONFIG", str(custom))
    assert find_project("shop") == custom / "shop.yaml"
    assert load_project("shop").name == "custom"
    assert set(all_projects()) >= {custom / "shop.yaml", xdg / "shop.yml", legacy / "old.yml"}


def test_find_project_local_and_path(home: Home, tmp_path: Path) -> None:
    (tmp_path / ".tmuxinator.yml").write_text("name: here\n")
    assert find_project(None, cwd=tmp_path) == tmp_path / ".tmuxinator.yml"
    assert find_project("nosuch", cwd=tmp_path) == tmp_path / ".tmuxinator.yml"
    other = tmp_path / "x.yml"
    other.write_text("name: x\n")
    assert find_project(None, path=other) == other
    with pytest.raises(ProjectNotFound, match="does not exist"):
        find_project(None, path=tmp_path / "missing.yml")


def test_project_not_found_says_where(home: Home, tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFound) as info:
        find_project("nosuch", cwd=tmp_path)
    assert "nosuch" in str(info.value)
    assert str(home.tmuxinator) in str(info.value)
    assert "-p PATH" in str(info.value)


# ----------------------------------------------------------------------------- fuzzing

_fragments = st.sampled_from(
    [
        "name: x\n",
        "secrets:\n",
        "  A: store://a\n",
        "  B: {ref: env://B, optional: true}\n",
        "  PATH: store://p\n",
        "  C:\n    ref: store://c\n    optional: yes\n",
        "windows:\n",
        "  - w:\n",
        "      secrets:\n",
        "        D: store://d\n",
        "      panes:\n",
        "        - ls\n",
        "        - secrets: x\n",
        "  - plain\n",
        "<%= ENV['X'] %>",
        "<% if x %>\n",
        "<% end %>\n",
        "<%# comment %>",
        "<%",
        "%>",
        "&a ",
        "*a\n",
        "!!binary ",
        "!!python/object:os.system ",
        "? [a, b]\n: c\n",
        "---\n",
        "...\n",
        "{",
        "}",
        "[",
        "]",
        "\t",
        " ",
        "'",
        '"',
        ": ",
        "- ",
        "#",
        "\n",
        "\ufeff",
        "é",
        "paneseal:\n  providers:\n    store: {timeout: 1}\n",
        "paneseal: 3\n",
        "tabs:\n  - t: {secrets: {E: store://e}}\n",
        "[" * 300,
        "{a: " * 250,
        "\x00",
        "\x07",
    ]
)


def _check_only_config_errors(tmp: Path, text: str) -> None:
    path = tmp / "fuzz.yml"
    try:
        parse_project(path, text)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "\n" not in message, message
        assert "Traceback" not in message


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_fragments, max_size=30).map("".join))
def test_fuzz_fragments(tmp_path: Path, text: str) -> None:
    _check_only_config_errors(tmp_path, text)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_fuzz_mutated_good_project(tmp_path: Path, data: st.DataObject) -> None:
    text = GOOD
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 5))
        insert = data.draw(st.one_of(_fragments, st.text(max_size=4)))
        text = text[:pos] + insert + text[pos + cut :]
    _check_only_config_errors(tmp_path, text)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(tmp_path: Path, text: str) -> None:
    _check_only_config_errors(tmp_path, text)
