"""The chain, the MAC, the head and rotation, driven in-process (fast) and through the CLI."""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from paneseal import audit
from paneseal.audit import chain, read, store
from paneseal.errors import AccessDenied, AuditError, ProviderError, SecretNotFound
from paneseal.refs import SecretRef
from paneseal.resolve import Outcome, Request, Resolution
from paneseal.secret import Secret
from paneseal.settings import Settings
from pshelp import Home, run_paneseal

CTX = audit.AccessContext("run", "/tmp/p.yml", "sess")


def _entries(n: int, prefix: str = "S") -> list[audit.Entry]:
    return [audit.Entry("delivered", f"{prefix}{i}", f"store://s{i}", "store") for i in range(n)]


def _write(n_calls: int, per_call: int = 2, settings: Settings | None = None) -> None:
    for i in range(n_calls):
        audit.record_events(CTX, _entries(per_call, f"C{i}_"), settings=settings or Settings())


def _log() -> Path:
    return store.log_path()


def _lines(path: Path | None = None) -> list[str]:
    return (path or _log()).read_text().splitlines(keepends=True)


def _put(lines: list[str], path: Path | None = None) -> None:
    (path or _log()).write_text("".join(lines))


def test_untouched_log_verifies_and_records_who_where_what(home: Home) -> None:
    _write(3)
    result = read.verify()
    assert result.ok, result.problem
    assert result.records == 6
    recs = [json.loads(x) for x in _lines()]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5, 6]
    assert recs[0]["prev"] == chain.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(recs))
    first = recs[0]
    assert set(chain.FIELDS) | {"hash", "mac"} == set(first)
    assert first["command"] == "run" and first["project"] == "/tmp/p.yml"
    assert first["session"] == "sess" and first["uid"] == os.getuid()
    assert first["pid"] == os.getpid() and first["ppid"] == os.getppid()
    assert first["cwd"] == os.getcwd() and first["host"]
    assert first["ts"].endswith("Z")


def test_files_and_directory_are_private(home: Home) -> None:
    _write(1)
    assert stat.S_IMODE(store.log_dir().stat().st_mode) == 0o700
    for p in (_log(), store.head_path(), chain.key_path()):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    # the key is not in the log's directory
    assert chain.key_path().parent != store.log_dir()


def _edit_field(lines: list[str]) -> tuple[list[str], int]:
    rec = json.loads(lines[3])
    rec["ref"] = "store://other"
    lines[3] = json.dumps(rec, separators=(",", ":")) + "\n"
    return lines, 4


def _delete_line(lines: list[str]) -> tuple[list[str], int]:
    del lines[2]
    return lines, 3


def _swap_lines(lines: list[str]) -> tuple[list[str], int]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines, 3


def _forged_insert(lines: list[str]) -> tuple[list[str], int]:
    """A forger who knows the format recomputes seq, prev and the plain hash; not the MAC."""
    recs = [json.loads(x) for x in lines]
    forged = dict(recs[2], name="FORGED", ref="store://forged")
    forged["seq"] = recs[2]["seq"] + 1
    forged["prev"] = recs[2]["hash"]
    forged["hash"] = chain.record_hash(forged)
    out = [*lines[:3], json.dumps(forged, separators=(",", ":")) + "\n"]
    # renumber and rechain the rest with plain hashes, as a careful forger would
    prev = forged["hash"]
    for rec in recs[3:]:
        rec["seq"] += 1
        rec["prev"] = prev
        rec["hash"] = chain.record_hash(rec)
        prev = rec["hash"]
        out.append(json.dumps(rec, separators=(",", ":")) + "\n")
    return out, 4


def _truncate_tail(lines: list[str]) -> tuple[list[str], int]:
    return lines[:-2], 5  # the line after the new end


def _cut_mid_record(lines: list[str]) -> tuple[list[str], int]:
    return [*lines[:-1], lines[-1][:40]], 6


def _replace_mac_key_style(lines: list[str]) -> tuple[list[str], int]:
    rec = json.loads(lines[1])
    rec["mac"] = chain.mac(b"k" * 32, rec["hash"])
    lines[1] = json.dumps(rec, separators=(",", ":")) + "\n"
    return lines, 2


TAMPER: list[tuple[str, Callable[[list[str]], tuple[list[str], int]], str]] = [
    ("edit-field", _edit_field, "altered"),
    ("delete-line", _delete_line, "missing"),
    ("swap-lines", _swap_lines, "reordered"),
    ("insert-forged-plain-hash", _forged_insert, "MAC"),
    ("truncate-tail", _truncate_tail, "cut from the end"),
    ("cut-mid-record", _cut_mid_record, "incomplete"),
    ("mac-with-other-key", _replace_mac_key_style, "MAC"),
]


@pytest.mark.parametrize(
    ("how", "expected"), [(t[1], t[2]) for t in TAMPER], ids=[t[0] for t in TAMPER]
)
def test_tampering_is_detected_and_located(
    home: Home, how: Callable[[list[str]], tuple[list[str], int]], expected: str
) -> None:
    _write(3)
    assert read.verify().ok  # the same log verified before the change
    lines, bad_line = how(_lines())
    _put(lines)
    result = read.verify()
    assert result.problem is not None
    assert result.problem.file == str(_log())
    assert result.problem.line == bad_line, result.problem
    assert expected in result.problem.message


@pytest.mark.parametrize(
    ("how", "expected"), [(t[1], t[2]) for t in TAMPER[:5]], ids=[t[0] for t in TAMPER[:5]]
)
def test_log_verify_cli_names_the_place_and_fails(
    home: Home, how: Callable[[list[str]], tuple[list[str], int]], expected: str
) -> None:
    _write(3)
    ok = run_paneseal("log", "verify")
    assert ok.returncode == 0, ok.stderr
    assert b"6 record(s)" in ok.stdout
    lines, bad_line = how(_lines())
    _put(lines)
    r = run_paneseal("log", "verify")
    assert r.returncode == 1
    assert f"{_log()}:{bad_line}:".encode() in r.stderr
    assert expected.encode() in r.stderr


def test_writer_after_truncation_keeps_the_gap_visible(home: Home) -> None:
    _write(3)
    _put(_lines()[:-2])
    _write(1)  # a new record attaches to the head, not to the cut tail
    result = read.verify()
    assert result.problem is not None
    assert result.problem.line == 5 and "missing" in result.problem.message


def test_uncommitted_fragment_of_a_dead_writer_is_cut_off(home: Home) -> None:
    """A writer killed inside its write leaves a fragment whose head was never written."""
    _write(2)
    complete = _log().read_bytes()
    fragment = _lines()[-1].replace('"seq":4,', '"seq":5,')[:50].encode()
    with _log().open("ab") as fh:
        fh.write(fragment)
    _write(1)
    data = _log().read_bytes()
    assert data.startswith(complete) and fragment not in data
    result = read.verify()
    assert result.ok, result.problem
    assert result.records == 6


def test_fragment_after_a_cut_tail_stays_visible(home: Home) -> None:
    _write(3)
    lines, _ = _cut_mid_record(_lines())
    _put(lines)
    _write(1)  # the next records start on their own line; the fragment is evidence
    result = read.verify()
    assert result.problem is not None
    assert result.problem.line == 6 and "not a JSON record" in result.problem.message
    assert _lines()[6].startswith('{"v":1,"seq":7,')


def test_head_rolled_back_by_an_interrupted_writer_heals(home: Home) -> None:
    _write(1)
    old_head = store.head_path().read_bytes()
    _write(1)
    store.head_path().write_bytes(old_head)  # as if the second writer died before its head
    result = read.verify()
    assert result.problem is not None and "interrupted" in result.problem.message
    _write(1)  # attaches to the tail, which is newer than the head
    assert read.verify().ok
    assert [r["seq"] for r in read.iter_records()] == [1, 2, 3, 4, 5, 6]


def test_deleted_head_is_reported(home: Home) -> None:
    _write(2)
    store.head_path().unlink()
    result = read.verify()
    assert result.problem is not None and "audit.head" in result.problem.message


def test_missing_key_fails_closed_and_verify_cannot_check(home: Home) -> None:
    _write(1)
    chain.key_path().unlink()
    with pytest.raises(AuditError, match=r"audit key .* is missing"):
        _write(1)
    r = run_paneseal("log", "verify")
    assert r.returncode == 7
    assert b"audit key" in r.stderr and b"Traceback" not in r.stderr


def test_key_readable_by_others_is_refused(home: Home) -> None:
    _write(1)
    os.chmod(chain.key_path(), 0o644)
    with pytest.raises(AuditError, match="chmod 600"):
        _write(1)


def test_concurrent_key_creation_agrees(home: Home) -> None:
    keys = {chain.load_key(create=True) for _ in range(3)}
    assert len(keys) == 1


def test_rotation_keeps_the_chain_across_files(home: Home) -> None:
    settings = Settings(audit_max_bytes=4096)
    _write(30, 2, settings)
    files = store.log_files()
    assert len(files) >= 3, files
    assert [f.name for f in files[:2]] == ["audit.jsonl.1", "audit.jsonl.2"]
    assert all(f.stat().st_size <= 4096 for f in files)
    result = read.verify()
    assert result.ok, result.problem
    assert result.records == 60
    seqs = [r["seq"] for r in read.iter_records()]
    assert seqs == list(range(1, 61))
    first_of_second = json.loads(_lines(files[1])[0])
    last_of_first = json.loads(_lines(files[0])[-1])
    assert first_of_second["prev"] == last_of_first["hash"]


def test_rotation_tamper_in_an_old_file_is_located(home: Home) -> None:
    _write(30, 2, Settings(audit_max_bytes=4096))
    first = store.log_files()[0]
    lines = _lines(first)
    del lines[1]
    _put(lines, first)
    result = read.verify()
    assert result.problem is not None
    assert (result.problem.file, result.problem.line) == (str(first), 2)


def test_removed_rotated_file_is_detected(home: Home) -> None:
    _write(30, 2, Settings(audit_max_bytes=4096))
    files = store.log_files()
    files[1].unlink()
    result = read.verify()
    assert result.problem is not None
    assert result.problem.file == str(files[2]) and result.problem.line == 1
    assert "missing" in result.problem.message


def test_failed_head_write_rolls_the_records_back(home: Home) -> None:
    _write(2)
    before = _log().read_bytes()
    head = store.head_path()
    head.unlink()
    head.mkdir()  # os.replace onto a non-empty directory fails
    (head / "x").touch()
    with pytest.raises(AuditError, match="cannot write the audit log"):
        _write(1)
    assert _log().read_bytes() == before


def test_best_effort_returns_a_loud_warning(home: Home) -> None:
    home.state.mkdir(parents=True)
    (home.state / "paneseal").write_text("not a directory")
    with pytest.raises(AuditError):
        _write(1)
    warnings = audit.record_events(CTX, _entries(1), settings=Settings(audit="best-effort"))
    assert len(warnings) == 1
    assert "NOT recorded" in warnings[0] and "best-effort" in warnings[0]


def test_audit_off_writes_nothing(home: Home) -> None:
    assert audit.record_events(CTX, _entries(2), settings=Settings(audit="off")) == []
    assert not store.log_dir().exists()


def _outcome(name: str, error: ProviderError | None, optional: bool = False) -> Outcome:
    ref = SecretRef("store", name.lower())
    req = Request(name, ref, optional, "window", 1)
    secret = None if error else Secret(ref, "v")
    return Outcome(req, secret, error, "store", 0.0125)


def test_events_per_outcome() -> None:
    res = Resolution(
        [
            _outcome("OK", None),
            _outcome("MISSING", SecretNotFound("no entry", provider="store")),
            _outcome("DENIED", AccessDenied("permission denied", provider="store")),
            _outcome("OPT", SecretNotFound("no entry", provider="store"), optional=True),
        ]
    )
    got = [(e.event, e.name, e.outcome, e.error) for e in audit.entries_for(res, delivered=False)]
    assert got == [
        ("resolved", "OK", "ok", None),
        ("failed", "MISSING", "failed", "SecretNotFound"),
        ("denied", "DENIED", "failed", "AccessDenied"),
        ("failed", "OPT", "optional, left unset", "SecretNotFound"),
    ]
    delivered = audit.entries_for(res, delivered=True)
    assert [(e.event, e.name, e.scope, e.window) for e in delivered] == [
        ("delivered", "OK", "window", 1)
    ]
    assert delivered[0].duration == 0.0125


HMAC_CASES = [
    # RFC 4231 test cases 1, 2 and 6 (key longer than the block)
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]


@pytest.mark.parametrize(
    ("key", "msg", "want"), HMAC_CASES, ids=["rfc4231-1", "rfc4231-2", "rfc4231-6"]
)
def test_hmac_sha256_known_answers(key: bytes, msg: bytes, want: str) -> None:
    assert chain.hmac_sha256(key, msg) == want


def test_hmac_sha256_agrees_with_the_standard_library() -> None:
    import hashlib
    import hmac

    for n in (0, 1, 31, 32, 64, 65, 200):
        key, msg = os.urandom(n), os.urandom(n * 3 + 1)
        assert chain.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).hexdigest()


def test_a_run_does_not_load_openssl_hashing(home: Home) -> None:
    """The writer's speed depends on it (bench/bench_audit.py)."""
    code = (
        "import sys\n"
        "from paneseal import audit\n"
        "audit.record_events(audit.AccessContext('run'), "
        "[audit.Entry('delivered', 'A', 'store://a', 'store')])\n"
        "print('_hashlib' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"False"
    assert read.verify().records == 1
