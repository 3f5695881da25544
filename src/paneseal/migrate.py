"""Move hard-coded secrets out of a project file and into a store.

The file is edited by splicing text at the exact spans the scanner reported, plus one
textual insertion of the ``secrets:`` entries, so every other byte (comments, key order,
quoting, ERB, line endings) stays as it was; a YAML round-trip library would re-emit the
file and lose some of that.  Each literal becomes a reference to an environment variable
that paneseal delivers to the pane, quoted for the shell context it sits in:
``"$NAME"`` outside quotes, ``${NAME}`` inside double quotes, ``'"$NAME"'`` inside single
quotes, and escaped again for the YAML scalar style around it.

Variable names: the name the text assigns to (``PGPASSWORD=``, ``-e DB_PASSWORD=``), else
the option's name (``--db-password`` -> ``DB_PASSWORD``), else the URL scheme
(``postgres://u:x@h`` -> ``POSTGRES_PASSWORD``), else the rule's conventional name
(``sshpass -p`` -> ``SSHPASS``, a GitHub token -> ``GITHUB_TOKEN``).  The same value found
twice gets one name; a different value under a taken name gets ``_2``, ``_3`` ...
Store entries are named ``PROJECT.name`` (lower case); under a reference prefix the
reference is ``PREFIX/NAME`` (``env://`` gives ``env://NAME``).

The library only plans: :func:`plan` returns the new text, the entries to write and a diff
with every value masked.  The CLI stores the values and writes the file atomically.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from paneseal.config import erb_tags, mask_erb, parse_project, validate_name
from paneseal.errors import ConfigError, Location
from paneseal.refs import SecretRef
from paneseal.scan.positions import COMMENT, LOADER, Positions, Scalar
from paneseal.scan.rules import RULES_BY_ID
from paneseal.scan.scanner import Finding, mask, scan_text

STORE = "store"
_TOP_SECRETS = re.compile(r"^secrets:[ \t]*(?P<rest>.*?)\r?$", re.MULTILINE)
_TOP_KEY = re.compile(r"^(?:windows|tabs):", re.MULTILINE)
_STORE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Entry:
    """One secret to create: the variable, its reference and (store only) its store name."""

    name: str
    ref: str
    store_name: str | None
    value: str = field(repr=False)
    exists: bool = False  # the store already holds this very value under store_name


@dataclass(frozen=True)
class Skipped:
    finding: Finding
    reason: str


@dataclass(frozen=True)
class Plan:
    path: Path
    original: str = field(repr=False)
    new_text: str = field(repr=False)
    entries: tuple[Entry, ...]
    moved: tuple[tuple[Finding, str], ...]  # finding, variable name
    skipped: tuple[Skipped, ...]
    diff: str  # unified diff, every value masked

    @property
    def changed(self) -> bool:
        return bool(self.moved)


# --------------------------------------------------------------------------- names


def _var_name(finding: Finding) -> str:
    name = finding.name or RULES_BY_ID[finding.rule].env_name
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").upper() or "SECRET"
    if name[0].isdigit():
        name = "S_" + name
    try:
        validate_name(name, Location("-"))
    except ConfigError:
        name = "APP_" + name.removeprefix("PANESEAL_")
    return name


def _project_slug(path: Path, text: str) -> str:
    m = re.search(r"^(?:name|project_name):[ \t]*['\"]?([A-Za-z0-9_.-]+)", text, re.MULTILINE)
    slug = m.group(1) if m else path.stem.lstrip(".")
    slug = _STORE_CHARS.sub("-", slug).strip(".-") or "project"
    return slug[:60]


# --------------------------------------------------------------------------- quoting


def _shell_state(prefix: str) -> str:
    """The shell's quoting state at the end of ``prefix``: '', "'" or '"'."""
    state = ""
    i = 0
    while i < len(prefix):
        ch = prefix[i]
        if state == "'":
            if ch == "'":
                state = ""
        elif ch == "\\":
            i += 1
        elif state == '"':
            if ch == '"':
                state = ""
        elif ch in "'\"":
            state = ch
        i += 1
    return state


def _unyaml(raw: str, style: str | None) -> str:
    """Raw scalar text -> the text the shell will see."""
    if style == '"':
        try:
            return str(yaml.load(f'"{raw}"', Loader=LOADER))  # noqa: S506 - safe loader
        except yaml.YAMLError:
            return raw.replace('\\"', '"').replace("\\\\", "\\")
    if style == "'":
        return raw.replace("''", "'")
    return raw


def _in_yaml(shell: str, style: str | None) -> str:
    """Shell text -> raw text that reads back as it inside a scalar of ``style``."""
    if style == '"':
        return shell.replace("\\", "\\\\").replace('"', '\\"')
    if style == "'":
        return shell.replace("'", "''")
    return shell


def _edit_for(text: str, pos: Positions, finding: Finding, name: str) -> tuple[int, int, str, str]:
    """(start, end, replacement, value) for one finding."""
    scalar: Scalar | None = pos.scalar_at(finding.start)
    raw_value = text[finding.start : finding.end]
    line_start = text.rfind("\n", 0, finding.start) + 1
    if scalar is None or finding.key_path == COMMENT:
        style: str | None = None
        body_start = line_start
    else:
        style = scalar.style
        if style in ('"', "'"):
            body_start = scalar.start + 1
        elif style in ("|", ">"):
            body_start = line_start
        else:
            body_start = scalar.start
    value = _unyaml(raw_value, style)
    state = _shell_state(_unyaml(text[body_start : finding.start], style))
    start, end = finding.start, finding.end
    quote = _in_yaml(state, style) if state else ""
    if (
        quote
        and text[start - len(quote) : start] == quote
        and text[end : end + len(quote)] == quote
        and _shell_state(_unyaml(text[body_start : start - len(quote)], style)) == ""
    ):
        # the whole word is quoted: 'x' -> "$NAME"
        start, end, state = start - len(quote), end + len(quote), ""
    if scalar is not None and style is None and start == scalar.start and state == "":
        shell = "${" + name + "}"  # a plain scalar may not start with a quote
    elif state == "'":
        shell = f"'\"${name}\"'"
    elif state == '"':
        shell = "${" + name + "}"
    else:
        shell = f'"${name}"'
    return start, end, _in_yaml(shell, style), value


# --------------------------------------------------------------------------- secrets block


def _secrets_insertion(text: str, lines: Sequence[str], nl: str) -> tuple[int, str]:
    """(offset, text to insert) adding ``lines`` (``NAME: REF``) to the top-level block."""
    m = _TOP_SECRETS.search(text)
    if m is None:
        body = "secrets:" + nl + "".join(f"  {ln}{nl}" for ln in lines)
        w = _TOP_KEY.search(text)
        if w is not None:
            return w.start(), body
        if text and not text.endswith("\n"):
            body = nl + body
        return len(text), body
    rest = m.group("rest").strip()
    if rest and not rest.startswith("#") and rest not in ("~", "null"):
        raise ConfigError(
            "the top-level secrets: block is written in flow style ({...})",
            Location(str(text.count("\n", 0, m.start()) + 1)),
            hint="rewrite it as one NAME: REF per line, then run paneseal migrate again",
        )
    if rest in ("~", "null"):
        raise ConfigError(
            "the top-level secrets: block is null",
            hint="remove the '~'/'null' after secrets:, then run paneseal migrate again",
        )
    # walk the block: indented, blank or comment lines after 'secrets:'
    offset = text.find("\n", m.end())
    indent = "  "
    insert_at = len(text) if offset == -1 else offset + 1
    seen_entry = False
    pos = insert_at
    while offset != -1 and pos < len(text):
        nxt = text.find("\n", pos)
        line = text[pos : len(text) if nxt == -1 else nxt].rstrip("\r")
        if line.strip() == "":
            pos = len(text) if nxt == -1 else nxt + 1
            continue
        if not line[:1].isspace():
            break
        if not line.lstrip().startswith("#"):
            if not seen_entry:
                indent = line[: len(line) - len(line.lstrip())]
            seen_entry = True
        pos = len(text) if nxt == -1 else nxt + 1
        insert_at = pos
    body = "".join(f"{indent}{ln}{nl}" for ln in lines)
    if insert_at == len(text) and text and not text.endswith("\n"):
        body = nl + body
    return insert_at, body


def _splice(text: str, edits: Sequence[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, repl in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- plan


def _skip_reason(finding: Finding, pos: Positions) -> str | None:
    if finding.in_erb:
        return (
            "inside ERB, which tmuxinator evaluates before paneseal runs: drop the default by "
            "hand and declare the variable in secrets:"
        )
    if finding.end_line != finding.line:
        return "spans several lines: move it into the store by hand (paneseal store set NAME)"
    return None


def plan(
    path: Path,
    text: str,
    to: str = STORE,
    lookup: Callable[[str], bytes | None] | None = None,
    salt: bytes = b"paneseal-migrate",
) -> Plan:
    """Work out the whole migration of one file without touching anything.

    ``to`` is ``store`` or a reference prefix such as ``vault://secret/app``.  ``lookup``
    reads a store entry (None when absent) so an existing entry is reused when it holds the
    same value and never overwritten when it holds another.
    """
    if to != STORE:
        _check_prefix(to)
    pos = Positions(text)
    findings = scan_text(text, str(path), salt, positions=pos)
    nl = "\r\n" if "\r\n" in text else "\n"
    slug = _project_slug(path, text)
    project = parse_project(path, text)
    taken = {d.name for d in project.secrets}
    by_value: dict[str, str] = {}
    entries: list[Entry] = []
    edits: list[tuple[int, int, str]] = []
    masked_edits: list[tuple[int, int, str]] = []
    moved: list[tuple[Finding, str]] = []
    skipped: list[Skipped] = []
    used_store: set[str] = set()
    for finding in findings:
        reason = _skip_reason(finding, pos)
        if reason is not None:
            skipped.append(Skipped(finding, reason))
            masked_edits.append((finding.start, finding.end, finding.masked))
            continue
        base = _var_name(finding)
        start, end, repl, value = _edit_for(text, pos, finding, base)
        name = by_value.get(value)
        if name is None:
            name = base
            n = 2
            while name in taken:
                name = f"{base}_{n}"
                n += 1
            taken.add(name)
            by_value[value] = name
            entries.append(_entry(name, value, slug, to, lookup, used_store))
        if name != base:
            start, end, repl, value = _edit_for(text, pos, finding, name)
        edits.append((start, end, repl))
        masked_edits.append((start, end, repl))
        moved.append((finding, name))
    if not moved:
        return Plan(path, text, text, (), (), tuple(skipped), "")
    insert_at, block = _secrets_insertion(text, [f"{e.name}: {e.ref}" for e in entries], nl)
    edits.append((insert_at, insert_at, block))
    masked_edits.append((insert_at, insert_at, block))
    new_text = _splice(text, edits)
    _verify(path, new_text, pos, skipped, salt)
    masked_old = _splice(text, [(f.start, f.end, mask(text[f.start : f.end])) for f in findings])
    diff = "".join(
        difflib.unified_diff(
            masked_old.splitlines(keepends=True),
            _splice(text, masked_edits).splitlines(keepends=True),
            fromfile=f"{path} (before)",
            tofile=f"{path} (after)",
        )
    )
    return Plan(path, text, new_text, tuple(entries), tuple(moved), tuple(skipped), diff)


def _check_prefix(prefix: str) -> None:
    try:
        SecretRef.parse(prefix + ("" if prefix.endswith("/") else "/") + "NAME")
    except Exception as exc:  # ReferenceSyntaxError: say it as a usage problem
        raise ConfigError(
            f"--to {prefix!r} is neither 'store' nor a reference prefix: {exc}",
            hint="for example --to store or --to vault://secret/myapp",
        ) from None


def _entry(
    name: str,
    value: str,
    slug: str,
    to: str,
    lookup: Callable[[str], bytes | None] | None,
    used: set[str],
) -> Entry:
    if to != STORE:
        sep = "" if to.endswith("/") else "/"
        return Entry(name, f"{to}{sep}{name}", None, value)
    base = f"{slug}.{name.lower()}"[:128]
    candidate, n = base, 2
    while True:
        if candidate not in used:
            current = lookup(candidate) if lookup else None
            if current is None or current == value.encode("utf-8", "surrogateescape"):
                used.add(candidate)
                return Entry(name, f"store://{candidate}", candidate, value, current is not None)
        candidate = f"{base}-{n}"
        n += 1


def _verify(path: Path, new: str, pos: Positions, skipped: Sequence[Skipped], salt: bytes) -> None:
    """Refuse to produce a file that reads differently than intended."""
    where = Location(str(path))
    if pos.is_yaml():
        try:
            yaml.compose(mask_erb(new, erb_tags(new)), Loader=LOADER)
        except yaml.YAMLError:  # pragma: no cover - a bug in the splicing, never user data
            raise ConfigError(
                "migration would make the file invalid YAML; nothing was changed",
                where,
                hint="move these secrets by hand",
            ) from None
    parse_project(path, new)
    left = {f.fingerprint for f in scan_text(new, str(path), salt)}
    if not left <= {s.finding.fingerprint for s in skipped}:  # pragma: no cover - a bug
        raise ConfigError("migration would leave a secret in the file; nothing was changed", where)
