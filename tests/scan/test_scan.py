"""``paneseal scan`` end to end: positions, formats, exit codes, baseline, no leaks."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from paneseal.scan.positions import Positions
from paneseal.scan.scanner import read_text, scan_file, scan_text
from pshelp import CORPUS, NO_CORPUS, Home, canary, files_containing, run_paneseal

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
SALT = b"s"

PROJECT = textwrap.dedent(
    """\
    # a comment: PGPASSWORD={pw0} was the old one
    name: demo
    root: ~/code/demo
    on_project_start: export DEPLOY_TOKEN={pw1}
    pre_window:
      - cd src
      - PGPASSWORD={pw2} psql -c 'select 1'
    windows:
      - editor: vim
      - server:
          layout: main-vertical
          panes:
            - mysql -u app -p{pw3} app
            - |
              echo start
              redis-cli -a {pw4} monitor
      - db: <%= ENV.fetch('DB_PASSWORD', '{pw5}') %>
    """
)


def _project(tmp: Path) -> tuple[Path, list[str]]:
    values = [canary(f"V{i}") for i in range(6)]
    path = tmp / "demo.yml"
    path.write_text(PROJECT.format(**{f"pw{i}": v for i, v in enumerate(values)}))
    return path, values


def test_key_paths_lines_and_columns(home: Home) -> None:
    path, values = _project(home.root)
    text = path.read_text()
    findings = scan_file(path, SALT)
    got = [(f.key_path, f.rule) for f in findings]
    assert got == [
        ("comment", "pgpassword"),
        ("on_project_start", "shell-secret-assignment"),
        ("pre_window[1]", "pgpassword"),
        ("windows[1].server.panes[0]", "mysql-password"),
        ("windows[1].server.panes[1]", "redis-cli-password"),
        ("windows[2].db", "erb-env-default"),
    ]
    for f, value in zip(findings, values, strict=True):
        offset = text.index(value)
        line = text.count("\n", 0, offset) + 1
        assert (f.line, f.column) == (line, offset - text.rfind("\n", 0, offset))
    assert findings[-1].in_erb


def test_not_yaml_still_gets_line_and_column(tmp_path: Path) -> None:
    value = canary("NY")  # not YAML: a tab and an unclosed flow sequence
    path = tmp_path / "notes.txt"
    path.write_text(f"windows: [unclosed\n\tmysql -p{value} db\n")
    [f] = scan_file(path, SALT)
    assert (f.line, f.column, f.key_path) == (2, 10, None)


def test_erb_is_masked_as_config_masks_it() -> None:
    text = "windows:\n<% 3.times do |i| %>\n  - w<%= i %>: PGPASSWORD=Zq81kkwm psql\n<% end %>\n"
    [f] = scan_text(text, "p.yml", SALT)
    assert (f.line, f.column) == (3, 27)
    pos = Positions(text)
    assert pos.key_path(f.start) == "windows[0].wxxxxxxxx"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=NO_CORPUS)
def test_every_real_corpus_file_scans_without_error() -> None:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".yml", ".yaml"))
    assert len(files) >= 300
    by_rule: dict[str, int] = {}
    for path in files:
        text = read_text(path)
        assert text is not None
        for f in scan_text(text, str(path), SALT):
            by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
            # every finding points exactly at the value it reports
            assert text[f.start : f.end]
            assert f.key_path is not None or not path.suffix.startswith(".y")
    # docs/scan.md reports these counts; the corpus is fixed, so they are too.
    assert sum(by_rule.values()) == 31, by_rule


@pytest.mark.skipif(not CORPUS.is_dir(), reason=NO_CORPUS)
def test_cli_over_corpus_reports_and_exits_1(home: Home) -> None:
    r = run_paneseal("scan", "--format", "json", str(CORPUS))
    assert r.returncode == 1, r.stderr
    assert b"Traceback" not in r.stderr
    data = json.loads(r.stdout)
    assert data["files_scanned"] >= 300
    assert len(data["findings"]) == 31


@pytest.mark.skipif(
    not SARIF_SCHEMA.is_file(),
    reason="../shared/schemas/sarif-schema-2.1.0.json is absent (run inside the workspace)",
)
def test_sarif_validates_against_the_official_schema(home: Home) -> None:
    import jsonschema

    path, values = _project(home.root)
    r = run_paneseal("scan", "--format", "sarif", str(path))
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    results = doc["runs"][0]["results"]
    assert len(results) == 6
    region = results[2]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (7, 16)
    for value in values:
        assert value.encode() not in r.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_no_value_in_any_output_or_file(home: Home, fmt: str) -> None:
    path, values = _project(home.root)
    r = run_paneseal("scan", "--format", fmt, str(path))
    assert r.returncode == 1, r.stderr
    assert r.stdout.count(b"***(") >= 6 or fmt != "text"
    for value in values:
        # prove the needle works: the project file holds it
        assert files_containing(home.root, value.encode()) == [path]
        assert value.encode() not in r.stdout + r.stderr
        # the masked prefix is short: not even half of the value is shown
        assert value[: len(value) // 2].encode() not in r.stdout


def test_clean_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("name: ok\nwindows:\n  - db: PGPASSWORD=$PGPASSWORD psql\n")
    r = run_paneseal("scan", str(path))
    assert r.returncode == 0, r.stderr
    assert b"no hard-coded secrets in 1 file(s)" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/x.yml"], b"does not exist"),
        (["--update-baseline", "."], b"--update-baseline needs --baseline"),
        (["--format", "xml", "."], b"xml"),
        (["--baseline", "/nonexistent/b.json", "."], b"/nonexistent/b.json does not exist"),
    ],
    ids=["missing-path", "update-without-baseline", "bad-format", "missing-baseline"],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: bytes) -> None:
    r = run_paneseal("scan", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert b"Traceback" not in r.stderr


def test_default_targets_are_tmuxinator_projects(home: Home) -> None:
    value = canary("DEF")
    (home.tmuxinator / "sub").mkdir()
    (home.tmuxinator / "sub" / "a.yml").write_text(f"windows:\n  - x: sshpass -p {value} ssh h\n")
    (home.tmuxinator / "notes.txt").write_text(f"sshpass -p {value} ssh h\n")
    r = run_paneseal("scan", cwd=home.root)
    assert r.returncode == 1, r.stderr
    assert b"a.yml:2:" in r.stdout
    assert b"notes.txt" not in r.stdout
    assert b"in 1 file(s)" in r.stdout


def test_baseline_hashes_only_and_stable_across_moves(home: Home) -> None:
    path, values = _project(home.root)
    baseline = home.root / "baseline.json"
    r = run_paneseal("scan", "--baseline", str(baseline), "--update-baseline", str(path))
    assert r.returncode == 0, r.stderr
    data = json.loads(baseline.read_text())
    assert len(data["findings"]) == 6
    assert all("line" not in e for e in data["findings"])
    for value in values:
        assert value not in baseline.read_text()
        assert files_containing(home.root, value.encode()) == [path]
    # moving every line down keeps the baseline valid
    path.write_text("# new header\n\n" + path.read_text())
    r = run_paneseal("scan", "--baseline", str(baseline), str(path))
    assert r.returncode == 0, r.stdout
    assert b"6 accepted by the baseline" in r.stdout
    # a new secret is still reported
    new = canary("NEW")
    with path.open("a") as fh:
        fh.write(f"  - late: sshpass -p {new} ssh h\n")
    r = run_paneseal("scan", "--baseline", str(baseline), "--format", "json", str(path))
    assert r.returncode == 1
    [finding] = json.loads(r.stdout)["findings"]
    assert finding["rule"] == "sshpass-password"


def test_walk_skips_binary_and_vcs(tmp_path: Path) -> None:
    value = canary("BIN")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x").write_text(f"PGPASSWORD={value}\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1" + f"PGPASSWORD={value}".encode())
    (tmp_path / "proj.yml").write_text(f"pre: PGPASSWORD={value} psql\n")
    r = run_paneseal("scan", "--format", "json", str(tmp_path))
    data = json.loads(r.stdout)
    assert [Path(f["file"]).name for f in data["findings"]] == ["proj.yml"]
    assert data["files_scanned"] == 2


def test_malformed_baseline_is_a_clear_error(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    baseline.write_text("{not json")
    r = run_paneseal("scan", "--baseline", str(baseline), str(tmp_path))
    assert r.returncode == 3
    assert b"not a paneseal baseline" in r.stderr
    assert b"Traceback" not in r.stderr
