"""``paneseal migrate``: literals into the store, "$NAME" in their place, nothing else moved."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from paneseal.config import erb_tags, mask_erb, parse_project
from paneseal.migrate import plan
from paneseal.scan.scanner import scan_text
from paneseal.store import Store
from pshelp import CORPUS, NO_CORPUS, Home, Put, canary, files_containing, run_paneseal

REPO = Path(__file__).resolve().parents[2]
SALT = b"t"


def _corpus_with_findings() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return [
        p
        for p in sorted(CORPUS.iterdir())
        if p.suffix in (".yml", ".yaml") and scan_text(p.read_text(), str(p), SALT)
    ]


def _composes(text: str) -> bool:
    try:
        yaml.compose(mask_erb(text, erb_tags(text)), Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return False
    return True


def _only_spans_changed(old: str, new: str, spans: list[tuple[int, int]], names: list[str]) -> None:
    """Byte for byte the same file, once each finding's span (old) and each "$NAME" form
    (new) is replaced by a marker and the inserted secrets: lines are taken out."""
    mark = "\0"
    for start, end in sorted(spans, reverse=True):
        old = old[:start] + mark + old[end:]
    kept = []
    for line in new.splitlines(keepends=True):
        entry = re.match(r"^\s*([A-Z0-9_]+): [a-z-]+://\S+\r?\n?$", line)
        if (entry and entry.group(1) in names and line not in old) or (
            line.rstrip() == "secrets:" and "secrets:" not in old
        ):
            continue
        kept.append(line)
    new = "".join(kept)
    for name in sorted(names, key=len, reverse=True):
        for form in (f"''\"${name}\"''", f"'\\\"${name}\\\"'", f"'\"${name}\"'"):
            new = new.replace(form, mark)
        for form in (f'\\"${name}\\"', f'"${name}"', "${" + name + "}"):
            new = new.replace(form, mark)
    collapse = re.compile(r"(['\"])\0\1")
    assert collapse.sub(mark, old) == collapse.sub(mark, new)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=NO_CORPUS)
@pytest.mark.parametrize("source", _corpus_with_findings(), ids=lambda p: p.name[:50])
def test_round_trip_on_real_corpus(home: Home, store: Put, source: Path) -> None:
    path = home.tmuxinator / "p.yml"
    shutil.copyfile(source, path)
    old = path.read_text()
    findings = scan_text(old, str(path), SALT)
    values = {old[f.start : f.end] for f in findings}
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    new = path.read_text()
    assert _composes(new) or not _composes(old)
    project = parse_project(path, new)
    declared = {d.name: d.ref for d in project.secrets}
    _only_spans_changed(old, new, [(f.start, f.end) for f in findings], list(declared))
    assert scan_text(new, str(path), SALT) == []
    stored = Store.default()
    got = {stored.get(ref.locator).decode() for ref in declared.values()}
    assert got == values
    for f in findings:
        if f.severity != "low":  # 'password' may well remain inside 'store://x.pgpassword'
            assert old[f.start : f.end] not in new
            assert old[f.start : f.end].encode() not in r.stdout + r.stderr


PROJECT = textwrap.dedent(
    """\
    # demo project: keep this comment
    name: demo
    root: ~/
    pre_window: export API_TOKEN={v0}
    windows:
      - bare: printf '[%s]' PGPASSWORD={v1} x
      - sq_word: printf '[%s]' PGPASSWORD='{v1}'
      - in_dq: printf '[%s]' "mysql -u a -p{v2} db"
      - in_sq: printf '[%s]' 'sshpass -p {v3} ssh h'
      - yaml_dq: "printf '[%s]' \\"mysql -u a -p{v2} db\\" end"
      - yaml_sq: 'printf ''[%s]'' sshpass -p {v3} ssh ''h'''
      - block: |
          printf '[%s]' redis-cli -a {v4} ping
      - url: printf '[%s]' postgres://app:{v5}@db/app
    """
)


def _values() -> list[str]:
    return [canary(f"M{i}") + "!x" for i in range(6)]


def _pane_outputs(path: Path, env: dict[str, str] | None = None) -> list[str]:
    data = yaml.safe_load(path.read_text())
    out = []
    for window in data["windows"]:
        [(_, cmd)] = window.items()
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, check=True)
        out.append(r.stdout)
    return out


def test_panes_get_the_same_values_through_paneseal_run(home: Home, store: Put) -> None:
    values = _values()
    path = home.tmuxinator / "demo.yml"
    path.write_text(PROJECT.format(**{f"v{i}": v for i, v in enumerate(values)}))
    before = _pane_outputs(path)
    assert values[3] in "".join(before)  # the literals really reach the commands
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    text = path.read_text()
    assert text.startswith("# demo project: keep this comment\nname: demo\n")
    for value in values:
        assert value not in text
    assert scan_text(text, str(path), SALT) == []
    # every pane command, run with the secrets paneseal delivers, prints what it printed
    data = yaml.safe_load(text)
    for i, window in enumerate(data["windows"]):
        [(_, cmd)] = window.items()
        res = run_paneseal("run", "-p", str(path), "--", "bash", "-c", cmd)
        assert res.returncode == 0, res.stderr
        assert res.stdout.decode() == before[i], (cmd, res.stdout)
    names = [d.name for d in parse_project(path).secrets]
    assert names == [
        "API_TOKEN",
        "PGPASSWORD",
        "MYSQL_PASSWORD",
        "SSHPASS",
        "REDISCLI_AUTH",
        "POSTGRES_PASSWORD",
    ]
    # no copy of a value anywhere under HOME (the store is encrypted)
    for value in values:
        assert files_containing(home.root, value.encode()) == []
        assert value.encode() not in r.stdout + r.stderr


def test_dry_run_masks_values_and_changes_nothing(home: Home, store: Put) -> None:
    values = _values()
    path = home.tmuxinator / "demo.yml"
    path.write_text(PROJECT.format(**{f"v{i}": v for i, v in enumerate(values)}))
    original = path.read_bytes()
    r = run_paneseal("migrate", "--dry-run", str(path))
    assert r.returncode == 0, r.stderr
    assert b"-    - bare: printf" not in r.stdout
    assert b"+  - bare: printf '[%s]' PGPASSWORD=\"$PGPASSWORD\" x" in r.stdout
    assert b"+secrets:" in r.stdout
    assert b"***(" in r.stdout
    for value in values:
        assert value.encode() not in r.stdout + r.stderr
    assert path.read_bytes() == original
    assert Store.default().names() == []


def test_existing_block_is_extended_and_names_do_not_clash(home: Home, store: Put) -> None:
    value = canary("EX")
    path = home.tmuxinator / "x.yml"
    path.write_text(
        "name: x\nsecrets:\n    PGPASSWORD: store://other   # theirs\n\n"
        f"windows:\n  - db: PGPASSWORD={value} psql\n"
    )
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    assert path.read_text() == (
        "name: x\nsecrets:\n    PGPASSWORD: store://other   # theirs\n"
        "    PGPASSWORD_2: store://x.pgpassword_2\n\n"
        'windows:\n  - db: PGPASSWORD="$PGPASSWORD_2" psql\n'
    )


def test_store_entry_with_another_value_is_never_overwritten(home: Home, store: Put) -> None:
    store("x.pgpassword", "someone-elses")
    store("x.mysql_pwd", "same-value-1")
    value = canary("OW")
    path = home.tmuxinator / "x.yml"
    path.write_text(
        f"name: x\nwindows:\n  - a: PGPASSWORD={value} psql\n  - b: MYSQL_PWD=same-value-1 mysql\n"
    )
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    s = Store.default()
    assert s.get("x.pgpassword") == b"someone-elses"
    assert s.get("x.pgpassword-2") == value.encode()
    assert "MYSQL_PWD: store://x.mysql_pwd\n" in path.read_text()


def test_erb_default_is_reported_not_rewritten(home: Home, store: Put) -> None:
    value = canary("ERB")
    path = home.tmuxinator / "e.yml"
    path.write_text(
        "name: e\nwindows:\n"
        f"  - a: psql <%= ENV.fetch('DB_PASSWORD', '{value}') %>\n"
        "  - b: sshpass -p Zq81kkwm ssh h\n"
    )
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 1
    assert b"not migrated" in r.stderr and b"inside ERB" in r.stderr
    assert value.encode() not in r.stderr + r.stdout
    text = path.read_text()
    assert value in text and "Zq81kkwm" not in text
    assert 'sshpass -p "$SSHPASS" ssh h' in text


def test_crlf_and_missing_final_newline_kept(home: Home, store: Put) -> None:
    path = home.tmuxinator / "w.yml"
    path.write_bytes(b"name: w\r\nwindows:\r\n  - a: PGPASSWORD=Zq81kkwm psql")
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == (
        b"name: w\r\nsecrets:\r\n  PGPASSWORD: store://w.pgpassword\r\n"
        b'windows:\r\n  - a: PGPASSWORD="$PGPASSWORD" psql'
    )


def test_git_tracked_file_warns_to_rotate(home: Home, store: Put) -> None:
    repo = home.root / "repo"
    repo.mkdir()
    path = repo / ".tmuxinator.yml"
    path.write_text("name: g\nwindows:\n  - a: PGPASSWORD=Zq81kkwm psql\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t")
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for args in (["init", "-q"], ["add", ".tmuxinator.yml"], ["commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    assert b"tracked by git" in r.stderr and b"Rotate" in r.stderr


def test_ref_prefix_requires_existing_matching_values(home: Home) -> None:
    value = canary("PFX")
    path = home.tmuxinator / "p.yml"
    original = f"name: p\nwindows:\n  - a: PGPASSWORD={value} psql\n"
    path.write_text(original)
    r = run_paneseal("migrate", "--to", "env://", "--dry-run", str(path))
    assert r.returncode == 0, r.stderr
    assert b"would create: env://PGPASSWORD" in r.stdout
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    r = run_paneseal("migrate", "--to", "env://", str(path), env=env)
    assert r.returncode == 5, r.stderr
    assert path.read_text() == original
    r = run_paneseal("migrate", "--to", "env://", str(path), env={**env, "PGPASSWORD": "other"})
    assert r.returncode == 3 and b"do not hold the value" in r.stderr
    assert path.read_text() == original
    r = run_paneseal("migrate", "--to", "env://", str(path), env={**env, "PGPASSWORD": value})
    assert r.returncode == 0, r.stderr
    assert "PGPASSWORD: env://PGPASSWORD" in path.read_text()
    assert value not in path.read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nosuchproject"], 3, b"no tmuxinator project named"),
        (["--to", "not a ref", "p.yml"], 3, b"neither 'store' nor a reference prefix"),
    ],
    ids=["unknown-project", "bad-prefix"],
)
def test_usage_problems(home: Home, args: list[str], code: int, message: bytes) -> None:
    (home.root / "p.yml").write_text("windows:\n  - a: PGPASSWORD=Zq81kkwm psql\n")
    r = run_paneseal("migrate", *args, cwd=home.root)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert b"Traceback" not in r.stderr


def test_plan_is_pure(tmp_path: Path) -> None:
    path = tmp_path / "q.yml"
    text = "windows:\n  - a: PGPASSWORD=Zq81kkwm psql\n"
    p = plan(path, text)
    assert not path.exists()
    assert p.changed and "Zq81kkwm" not in p.diff and "Zq81kkwm" not in repr(p)


def test_span_check_catches_a_stray_change() -> None:
    old = "a: PGPASSWORD=Zq81kkwm psql # keep\n"
    good = 'secrets:\n  PGPASSWORD: store://a.pgpassword\na: PGPASSWORD="$PGPASSWORD" psql # keep\n'
    span = [(14, 22)]
    _only_spans_changed(old, good, span, ["PGPASSWORD"])
    with pytest.raises(AssertionError):
        _only_spans_changed(old, good.replace("keep", "kept"), span, ["PGPASSWORD"])


@pytest.mark.skipif(not shutil.which("tmuxinator"), reason="tmuxinator is not installed")
def test_paneseal_start_gives_panes_the_values_they_had(
    home: Home, store: Put, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After migrating, the real ``paneseal start`` delivers what the literals used to be.

    Each pane hashes what its command saw into a file, so no value is written anywhere."""
    import tempfile

    from pshelp import wait_until

    runtime = Path(tempfile.mkdtemp(prefix="psm", dir="/tmp"))
    runtime.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    values = _values()
    out = home.root / "out"
    out.mkdir()
    commands = [
        "printf '[%s]' PGPASSWORD={v0} 'redis-cli -a {v1} ping'",
        "printf '[%s]' \"export API_TOKEN={v2}\" postgres://u:{v3}@h/db",
        "printf '[%s]' mysql -u a -p{v4} sshpass -p '{v5}'",
    ]
    panes = [f"{c} | sha256sum > {out}/{i}" for i, c in enumerate(commands)]
    lines = "".join(f"        - {json_str(p)}\n" for p in panes)
    path = home.tmuxinator / "hashes.yml"
    path.write_text(
        f"name: hashes\nroot: {home.root}\nwindows:\n  - w:\n      panes:\n{lines}".format(
            **{f"v{i}": v for i, v in enumerate(values)}
        )
    )
    expected = [
        subprocess.run(
            ["bash", "-c", c.format(**{f"v{i}": v for i, v in enumerate(values)}) + " | sha256sum"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for c in commands
    ]
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 0, r.stderr
    assert scan_text(path.read_text(), str(path), SALT) == []
    try:
        r = run_paneseal("start", "hashes", "--no-attach", timeout=90)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: all((out / str(i)).is_file() for i in range(3)), timeout=30)
        wait_until(lambda: all((out / str(i)).read_text() for i in range(3)), timeout=10)
        assert [(out / str(i)).read_text() for i in range(3)] == expected
    finally:
        subprocess.run(["tmux", "kill-server"], capture_output=True, check=False)
        shutil.rmtree(runtime, ignore_errors=True)
    for value in values:
        assert files_containing(home.root, value.encode()) == []


def json_str(text: str) -> str:
    import json

    return json.dumps(text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"secrets: {A: store://a}\nwindows:\n  - a: PGPASSWORD=Zq81kkwm psql\n", b"flow style"),
        (b"secrets: ~\nwindows:\n  - a: PGPASSWORD=Zq81kkwm psql\n", b"secrets: block is null"),
        (b"windows:\n  - a: PGPASSWORD=Zq81kkwm\xff psql\n", b"not valid UTF-8"),
        (b"windows: [\n  - a: PGPASSWORD=Zq81kkwm psql\n", b"not valid YAML"),
    ],
    ids=["flow-secrets", "null-secrets", "not-utf8", "broken-yaml"],
)
def test_files_it_cannot_migrate_are_left_alone(
    home: Home, store: Put, content: bytes, message: bytes
) -> None:
    path = home.tmuxinator / "bad.yml"
    path.write_bytes(content)
    r = run_paneseal("migrate", str(path))
    assert r.returncode == 3, r.stderr
    assert message in r.stderr
    assert b"Traceback" not in r.stderr
    assert b"Zq81kkwm" not in r.stderr + r.stdout
    assert path.read_bytes() == content
    assert Store.default().names() == []


QUOTING = [
    ("bare", "- PGPASSWORD=Zq81kkwm psql", '- PGPASSWORD="$PGPASSWORD" psql'),
    ("sq-word", "- PGPASSWORD='Zq81 kkwm' psql", '- PGPASSWORD="$PGPASSWORD" psql'),
    ("dq-word", '- PGPASSWORD="Zq81 kkwm" psql', '- PGPASSWORD="$PGPASSWORD" psql'),
    (
        "in-dq",
        '- echo "export VAULT_TOKEN=Zq81kkwm"',
        '- echo "export VAULT_TOKEN=${VAULT_TOKEN}"',
    ),
    ("in-sq", "- echo 'sshpass -p Zq81kkwm ssh h'", "- echo 'sshpass -p '\"$SSHPASS\"' ssh h'"),
    ("yaml-dq", '- "mysql -pZq81kkwm db"', '- "mysql -p\\"$MYSQL_PASSWORD\\" db"'),
    (
        "yaml-sq-in-sq",
        "- 'echo ''sshpass -p Zq81kkwm ssh h'''",
        "- 'echo ''sshpass -p ''\"$SSHPASS\"'' ssh h'''",
    ),
    ("comment", "# - sshpass -p Zq81kkwm ssh h", '# - sshpass -p "$SSHPASS" ssh h'),
]


@pytest.mark.parametrize(("case", "before", "after"), QUOTING, ids=[q[0] for q in QUOTING])
def test_replacement_is_quoted_for_its_context(
    tmp_path: Path, case: str, before: str, after: str
) -> None:
    text = f"name: q\nwindows:\n  - w:\n      panes:\n        {before}\n"
    p = plan(tmp_path / "q.yml", text)
    [entry] = p.entries
    assert entry.value in ("Zq81kkwm", "Zq81 kkwm")
    assert p.new_text.endswith(f"      panes:\n        {after}\n"), p.new_text


def test_symlinked_project_is_rewritten_at_its_target(home: Home, store: Put) -> None:
    target = home.root / "dotfiles" / "s.yml"
    target.parent.mkdir()
    target.write_text("name: s\nwindows:\n  - a: PGPASSWORD=Zq81kkwm psql\n")
    link = home.tmuxinator / "s.yml"
    link.symlink_to(target)
    r = run_paneseal("migrate", "s")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink()
    assert "Zq81kkwm" not in target.read_text()
    assert files_containing(home.root, b"Zq81kkwm") == []
