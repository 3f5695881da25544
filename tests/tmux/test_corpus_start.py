"""Real tmuxinator projects from ../shared/corpus start under paneseal with the secret in
every pane.

Each file keeps its structure (windows, window names, layouts, panes, window roots and
the other top-level keys).  Changed, so the test is safe and offline: ``root`` and every window
``root`` point at a temp dir, a ``secrets:`` block is added (one project-level secret, one
window-level secret on the first window), every pane/window command becomes a harmless
``echo``, and the keys that would run host commands or need files we do not have
(hooks, ``pre``/``pre_window``, ``tmux_command``/``tmux_options``/``cli_args``, sockets) are
dropped, as are ``startup_window``/``startup_pane`` (some name panes that do not exist, which
makes tmuxinator itself exit 1).  Files with ERB or that are not YAML are not chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tmux.tmuxhelp import Home, Put, canary, panes, run_paneseal, shell_env, tmux

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "tmuxinator-real"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus/tmuxinator-real")
DROP = {
    "pre", "post", "pre_window", "pre_tab", "rbenv", "rvm", "tmux_command", "tmux_options",
    "cli_args", "socket_name", "socket_path", "attach", "on_project_start",
    "on_project_first_start", "on_project_restart", "on_project_exit", "on_project_stop",
    "startup_window", "startup_pane",
}  # fmt: skip


def _usable(path: Path) -> bool:
    text = path.read_text(errors="replace")
    if "<%" in text:
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    windows = data.get("windows") or data.get("tabs") if isinstance(data, dict) else None
    return isinstance(windows, list) and bool(windows)


def chosen(n: int = 24) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    usable = [p for p in sorted(CORPUS.iterdir()) if p.suffix in (".yml", ".yaml") and _usable(p)]
    step = max(1, len(usable) // n)
    return usable[::step][:n]


def neutral_panes(panes_value: Any, w: int) -> tuple[list[str], int]:
    if not isinstance(panes_value, list) or not panes_value:
        return [f"echo CORPUS_W{w}_P0"], 1
    return [f"echo CORPUS_W{w}_P{i}" for i in range(len(panes_value))], len(panes_value)


def transform(data: dict[str, Any], root: Path) -> tuple[dict[str, Any], list[int]]:
    """The project as we start it, and the expected number of panes per window."""
    out = {k: v for k, v in data.items() if k not in DROP and k not in ("windows", "tabs")}
    out["name"] = "corpus"
    out.pop("project_name", None)
    out["root"] = str(root)
    out.pop("project_root", None)
    out["secrets"] = {"CORPUS_SECRET": "store://corpus"}
    windows = []
    counts = []
    for w, window in enumerate(data.get("windows") or data.get("tabs") or []):
        if isinstance(window, dict) and window:
            name, body = next(iter(window.items()))
        else:
            name, body = f"w{w}", None
        if isinstance(body, dict):
            new_body = {k: v for k, v in body.items() if k in ("layout", "synchronize")}
            if "root" in body:
                new_body["root"] = str(root)
            new_body["panes"], count = neutral_panes(body.get("panes"), w)
        else:
            new_body = {"panes": [f"echo CORPUS_W{w}_P0"]}
            count = 1
        if w == 0:
            new_body["secrets"] = {"CORPUS_WINDOW": "store://corpus_window"}
        windows.append({name: new_body})
        counts.append(count)
    out["windows"] = windows
    return out, counts


FILES = chosen()


def test_enough_corpus_files() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("source", FILES, ids=[p.name[:60] for p in FILES])
def test_corpus_project_starts_with_secret_in_every_pane(
    home: Home, store: Put, runtime_dir: Path, server_socket: None, source: Path
) -> None:
    value, window_value = canary("CORPUS"), canary("CORPUSWIN")
    store("corpus", value)
    store("corpus_window", window_value)
    root = home.root / "root"
    root.mkdir()
    project, counts = transform(yaml.safe_load(source.read_text(errors="replace")), root)
    (home.tmuxinator / "corpus.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    r = run_paneseal("start", "corpus", "--no-attach", env=shell_env())
    assert r.returncode == 0, r.stderr.decode()
    found = panes("corpus")
    per_window = [sum(1 for p in found if p.window == w) for w in range(len(counts))]
    assert per_window == counts
    for pane in found:
        env = pane.environ()
        assert env.get("CORPUS_SECRET") == value, pane
        assert (env.get("CORPUS_WINDOW") == window_value) == (pane.window == 0), pane
    assert value not in tmux("show-environment", "-g")
