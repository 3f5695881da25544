"""tmuxinator project files: find them as tmuxinator 3 does, read their ``secrets:`` blocks.

paneseal never runs Ruby.  tmuxinator renders a project as ERB before parsing it as YAML,
so a project may not be valid YAML as written.  We mask every ERB tag with filler of the
same length (output tags become a plain word, control tags become spaces), which keeps
every line and column where it was, and compose the masked text with PyYAML's C loader.
If even the masked file is not YAML (ERB that generates structure), the top-level
``secrets:`` block is cut out by indentation and read on its own.  ERB inside a
``secrets:`` block is an error: its value would depend on Ruby we refuse to run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paneseal.errors import ConfigError, Location, ProjectNotFound
from paneseal.names import RESERVED_NAMES as RESERVED_NAMES  # noqa: PLC0414 - re-export
from paneseal.names import RESERVED_PREFIXES as RESERVED_PREFIXES  # noqa: PLC0414 - re-export
from paneseal.names import parse_ref_text as parse_ref_text  # noqa: PLC0414 - re-export
from paneseal.names import validate_name as validate_name  # noqa: PLC0414 - re-export
from paneseal.refs import SecretRef

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

_ERB = re.compile(r"<%(?!%).*?%>", re.DOTALL)

WINDOW_KEYS = ("windows", "tabs")


@dataclass(frozen=True, slots=True)
class SecretDecl:
    """One declared secret: its variable name, reference, scope and where it was written."""

    name: str
    ref: SecretRef
    optional: bool
    location: Location
    window: int | None = None  # index in ``windows:`` for a window-level secret

    @property
    def scope(self) -> str:
        return "project" if self.window is None else "window"


@dataclass(frozen=True, slots=True)
class WindowDecl:
    index: int
    name: str | None
    secrets: tuple[SecretDecl, ...] = ()


@dataclass(frozen=True)
class Project:
    """What paneseal needs from a project file.  ``settings`` holds the top-level scalar
    keys tmuxinator reads (``name``, ``socket_name``, ``tmux_command`` ...) as written; a key
    whose value holds ERB is None: only tmuxinator can know it."""

    path: Path
    secrets: tuple[SecretDecl, ...] = ()
    windows: tuple[WindowDecl, ...] = ()
    settings: Mapping[str, str | None] = field(default_factory=dict)
    provider_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    has_erb: bool = False
    yaml_valid: bool = True

    @property
    def name(self) -> str | None:
        return self.settings.get("name") or self.settings.get("project_name")

    def all_secrets(self) -> Iterator[SecretDecl]:
        yield from self.secrets
        for window in self.windows:
            yield from window.secrets


# --------------------------------------------------------------------------- lookup


def tmuxinator_directories(env: Mapping[str, str] | None = None) -> list[Path]:
    """The directories tmuxinator 3 searches, in its order."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    dirs: list[Path] = []
    if env.get("TMUXINATOR_CONFIG"):
        dirs.append(Path(env["TMUXINATOR_CONFIG"]))
    xdg = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    dirs.append(Path(xdg) / "tmuxinator")
    dirs.append(home / ".tmuxinator")
    return dirs


def _project_in(directory: Path, name: str) -> Path | None:
    if not directory.is_dir():
        return None
    candidates = sorted(
        str(p) for p in directory.glob("**/*") if p.suffix in (".yml", ".yaml") and p.is_file()
    )
    for candidate in candidates:
        if Path(candidate).stem == name:
            return Path(candidate)
    return None


def local_project(cwd: Path | None = None) -> Path | None:
    cwd = cwd or Path.cwd()
    for fname in (".tmuxinator.yml", ".tmuxinator.yaml"):
        if (cwd / fname).is_file():
            return cwd / fname
    return None


def find_project(
    name: str | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """Return the project file tmuxinator would use.  ``path`` is ``-p``.

    Like tmuxinator, an unknown name falls back to ``./.tmuxinator.yml``.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ProjectNotFound(f"project file {str(p)!r} does not exist")
        return p
    if name:
        if "/" in name and Path(name).is_file():
            return Path(name)
        for directory in tmuxinator_directories(env):
            found = _project_in(directory, name)
            if found:
                return found
    local = local_project(cwd)
    if local:
        return local
    searched = ", ".join(str(d) for d in tmuxinator_directories(env))
    if name:
        raise ProjectNotFound(
            f"no tmuxinator project named {name!r}",
            hint=f"looked for {name}.yml in {searched} and ./.tmuxinator.yml; pass -p PATH",
        )
    raise ProjectNotFound(
        "no project named and no ./.tmuxinator.yml here",
        hint="name a project or pass -p PATH",
    )


def all_projects(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[Path]:
    """Every project file tmuxinator could find (for ``scan`` and ``review``)."""
    seen: list[Path] = []
    for directory in tmuxinator_directories(env):
        if directory.is_dir():
            for p in sorted(directory.glob("**/*")):
                if p.suffix in (".yml", ".yaml") and p.is_file() and p not in seen:
                    seen.append(p)
    local = local_project(cwd)
    if local and local not in seen:
        seen.append(local)
    return seen


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class ErbTag:
    start: int
    end: int
    first_line: int  # 0-based
    last_line: int


def erb_tags(text: str) -> list[ErbTag]:
    tags: list[ErbTag] = []
    for m in _ERB.finditer(text):
        first = text.count("\n", 0, m.start())
        tags.append(ErbTag(m.start(), m.end(), first, first + m.group().count("\n")))
    return tags


def mask_erb(text: str, tags: list[ErbTag]) -> str:
    """Replace ERB tags by filler of the same length, keeping newlines where they were."""
    if not tags:
        return text
    out: list[str] = []
    pos = 0
    for tag in tags:
        out.append(text[pos : tag.start])
        chunk = text[tag.start : tag.end]
        filler = "x" if chunk.startswith("<%=") else " "
        out.append("".join("\n" if c == "\n" else filler for c in chunk))
        pos = tag.end
    out.append(text[pos:])
    return "".join(out)


def _mark_line(mark: Any) -> int:
    return int(mark.line) + 1


def _is_true(node: yaml.Node) -> bool | None:
    if isinstance(node, yaml.ScalarNode):
        low = str(node.value).lower()
        if low in ("true", "yes", "on"):
            return True
        if low in ("false", "no", "off"):
            return False
    return None


def _last_line(node: yaml.Node) -> int:
    """0-based line of the last character that belongs to ``node``.

    A block collection's end mark sits on the *next* key's line (where the parser saw the
    block end), so ERB in a sibling key right after a window's ``secrets:`` would be
    blamed on the block; look at the last child instead."""
    if isinstance(node, yaml.CollectionNode) and node.value and not node.flow_style:
        child = node.value[-1]
        return _last_line(child[1] if isinstance(node, yaml.MappingNode) else child)
    start, end = int(node.start_mark.line), int(node.end_mark.line)
    if end > start and (
        int(node.end_mark.column) == 0
        or (isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"))
    ):
        return end - 1
    return end


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.file = str(path)
        self.text = text
        self.tags = erb_tags(text)

    def loc(self, node: yaml.Node | None, key_path: str, line: int | None = None) -> Location:
        if node is not None and line is None:
            line = _mark_line(node.start_mark)
        return Location(self.file, line, key_path)

    def check_no_erb(self, node: yaml.Node, key_path: str, line_offset: int = 0) -> None:
        first = int(node.start_mark.line) + line_offset
        last = _last_line(node) + line_offset
        for tag in self.tags:
            if tag.first_line <= last and tag.last_line >= first:
                raise ConfigError(
                    "ERB is not allowed inside a secrets: block (paneseal never runs Ruby)",
                    Location(self.file, tag.first_line + 1, key_path),
                    hint="write the reference literally, e.g. API_KEY: store://api_key",
                )

    def secrets_block(
        self, node: yaml.Node, key_path: str, window: int | None, line_offset: int = 0
    ) -> tuple[SecretDecl, ...]:
        self.check_no_erb(node, key_path, line_offset)
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return ()
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(
                "secrets: must be a mapping of NAME: REFERENCE",
                self.loc(node, key_path, _mark_line(node.start_mark) + line_offset),
                hint="for example: secrets: {DB_PASSWORD: store://db_password}",
            )
        decls: list[SecretDecl] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = _mark_line(key_node.start_mark) + line_offset
            name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            where = Location(self.file, line, f"{key_path}.{name}")
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("a secret's name must be a plain word", where)
            validate_name(name, where)
            if name in seen:
                raise ConfigError(f"secret {name} is declared twice in this block", where)
            seen.add(name)
            optional = False
            if isinstance(value_node, yaml.ScalarNode):
                ref_text = str(value_node.value)
            elif isinstance(value_node, yaml.MappingNode):
                ref_text = ""
                for k, v in value_node.value:
                    k_name = str(getattr(k, "value", "?"))
                    kwhere = Location(
                        self.file,
                        _mark_line(k.start_mark) + line_offset,
                        f"{where.key_path}.{k_name}",
                    )
                    if k_name == "ref" and isinstance(v, yaml.ScalarNode):
                        ref_text = str(v.value)
                    elif k_name == "optional":
                        flag = _is_true(v)
                        if flag is None:
                            raise ConfigError("optional must be true or false", kwhere)
                        optional = flag
                    else:
                        raise ConfigError(
                            f"unknown key {k_name!r} in a secret entry",
                            kwhere,
                            hint="an entry is NAME: REF or NAME: {ref: REF, optional: true}",
                        )
                if not ref_text:
                    raise ConfigError(
                        "secret entry has no ref:",
                        where,
                        hint="write NAME: {ref: store://name, optional: true}",
                    )
            else:
                raise ConfigError(
                    "a secret entry must be a reference or {ref: ..., optional: ...}",
                    where,
                )
            if isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":null"):
                raise ConfigError("secret has no reference", where, hint="write NAME: store://name")
            ref = parse_ref_text(ref_text, where)
            decls.append(SecretDecl(name, ref, optional, where, window))
        return tuple(decls)


def _scalar_settings(root: yaml.MappingNode, reader: _Reader) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode):
            first, last = int(v.start_mark.line), int(v.end_mark.line)
            has_erb = any(t.first_line <= last and t.last_line >= first for t in reader.tags)
            # a masked output tag reads as 'xxxx': only tmuxinator knows the real value
            out[str(k.value)] = None if has_erb else str(v.value)
    return out


def _provider_overrides(node: yaml.Node, reader: _Reader) -> dict[str, dict[str, Any]]:
    from paneseal.settings import validate_provider_tables

    reader.check_no_erb(node, "paneseal")
    try:
        # the safe constructor builds nested values without deep recursion
        data = yaml.constructor.SafeConstructor().construct_document(node)
    except (yaml.YAMLError, RecursionError):
        raise ConfigError(
            "paneseal: is not a plain table of settings",
            reader.loc(node, "paneseal"),
            hint="paneseal: {providers: {vault: {timeout: 3}}}",
        ) from None
    if not isinstance(data, Mapping) or set(data) - {"providers"}:
        raise ConfigError(
            "paneseal: may only hold providers:",
            reader.loc(node, "paneseal"),
            hint="paneseal: {providers: {vault: {timeout: 3}}}",
        )
    try:
        return validate_provider_tables(
            data.get("providers", {}), reader.file, "paneseal.providers"
        )
    except ConfigError as exc:
        if exc.location is None or exc.location.line is not None:
            raise
        # settings validation works on plain data: find the line of the key it names
        line = _line_of(node, exc.location.key_path.split(".")[1:])
        raise ConfigError(
            exc.what, Location(reader.file, line, exc.location.key_path), hint=exc.hint
        ) from None


def _line_of(node: yaml.Node, keys: list[str]) -> int | None:
    """1-based line of the key at the end of ``keys`` inside ``node``, or of the deepest
    key found on the way."""
    line = _mark_line(node.start_mark)
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                line, node = _mark_line(k.start_mark), v
                break
        else:
            break
    return line


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """One line of explanation and the 1-based line, whatever kind of YAML error it is."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(int(exc.position), 0)) + 1
        char = exc.character
        code = ord(char) if isinstance(char, str) else int(char)
        return f"character #x{code:04x} is not allowed in YAML", line
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    first = str(problem).strip().splitlines()[0] if str(problem).strip() else "syntax error"
    return first, (int(mark.line) + 1 if mark is not None else None)


MAX_DEPTH = 200


class _TooDeep(Exception):
    pass


def _too_deep(path: Path) -> ConfigError:
    return ConfigError(f"nested more than {MAX_DEPTH} levels deep", Location(str(path)))


def _first_document(text: str) -> yaml.Node | None:
    """tmuxinator reads the first YAML document of a file (Psych.safe_load) and ignores
    any after it; do the same."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                # libyaml's composer recurses in C and would crash the interpreter
                raise _TooDeep
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.DocumentEndEvent):
            break
    for document in yaml.compose_all(text, Loader=_Loader):
        return document
    return None


def parse_project(path: Path, text: str | None = None) -> Project:
    """Read a project file; raise ConfigError naming file, line and key path on any problem."""
    if text is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read project: {exc.strerror}", Location(str(path))) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ConfigError("not valid UTF-8", Location(str(path), line)) from None
    reader = _Reader(path, text)
    masked = mask_erb(text, reader.tags)
    try:
        root = _first_document(masked)
    except (_TooDeep, RecursionError):
        raise _too_deep(path) from None
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # PyYAML >= 6.0.4 stops deep nesting itself
            raise _too_deep(path) from None
        if reader.tags:
            return _fallback(path, text, reader)
        problem, err_line = _yaml_problem(exc, masked)
        raise ConfigError(
            f"not valid YAML: {problem}",
            Location(str(path), err_line),
            hint="tmuxinator cannot read it either; fix the syntax",
        ) from None
    if root is None:
        return Project(path, has_erb=bool(reader.tags))
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            "a tmuxinator project must be a mapping (name:, root:, windows: ...)",
            reader.loc(root, ""),
        )
    secrets: tuple[SecretDecl, ...] = ()
    windows: list[WindowDecl] = []
    overrides: dict[str, dict[str, Any]] = {}
    for key_node, value_node in root.value:
        key = str(getattr(key_node, "value", ""))
        if key == "secrets":
            secrets = reader.secrets_block(value_node, "secrets", None)
        elif key == "paneseal":
            overrides = _provider_overrides(value_node, reader)
        elif key in WINDOW_KEYS and isinstance(value_node, yaml.SequenceNode):
            windows = _windows(value_node, reader, key)
    return Project(
        path,
        secrets,
        tuple(windows),
        _scalar_settings(root, reader),
        overrides,
        has_erb=bool(reader.tags),
    )


def _windows(node: yaml.SequenceNode, reader: _Reader, key: str) -> list[WindowDecl]:
    windows: list[WindowDecl] = []
    for index, item in enumerate(node.value):
        name: str | None = None
        decls: tuple[SecretDecl, ...] = ()
        if isinstance(item, yaml.MappingNode) and item.value:
            name_node, body = item.value[0]
            name = str(getattr(name_node, "value", "")) or None
            kp = f"{key}[{index}].{name}"
            for k, _ in item.value[1:]:
                if getattr(k, "value", None) == "secrets":
                    # ``- editor:`` followed by keys at the same depth: tmuxinator only
                    # reads the first key, so this block would be silently ignored
                    raise ConfigError(
                        f"secrets: is next to the window name {name!r}, not inside it, so "
                        "tmuxinator and paneseal would ignore it",
                        reader.loc(k, f"{key}[{index}].secrets"),
                        hint=f"indent it (and the window's other keys) under '{name}:'",
                    )
            if isinstance(body, yaml.MappingNode):
                for k, v in body.value:
                    if getattr(k, "value", None) == "secrets":
                        decls = reader.secrets_block(v, f"{kp}.secrets", index)
                    elif getattr(k, "value", None) == "panes":
                        _reject_pane_secrets(v, reader, f"{kp}.panes")
        windows.append(WindowDecl(index, name, decls))
    return windows


def _reject_pane_secrets(panes: yaml.Node, reader: _Reader, kp: str) -> None:
    """A ``secrets:`` hash in a pane list crashes tmuxinator 3.0.5: say so before it does."""
    if not isinstance(panes, yaml.SequenceNode):
        return
    for i, pane in enumerate(panes.value):
        if isinstance(pane, yaml.MappingNode):
            for k, v in pane.value:
                # ``- secrets: [cmd, ...]`` is a pane *titled* secrets (tmuxinator 3 pane
                # titles): only a NAME: REF mapping is a misplaced block
                if getattr(k, "value", None) == "secrets" and isinstance(v, yaml.MappingNode):
                    raise ConfigError(
                        "secrets: cannot be set on a single pane (tmuxinator reads a hash in a "
                        "pane list as {title: commands} and crashes on it)",
                        reader.loc(k, f"{kp}[{i}].secrets"),
                        hint="move it to the window (next to panes:) or to the top level",
                    )


_TOP_BLOCK = r"^{key}:[ \t]*(#.*)?$|^{key}:[ \t]*\{{"
_TOP_SECRETS = re.compile(_TOP_BLOCK.format(key="secrets"), re.MULTILINE)
_TOP_PANESEAL = re.compile(_TOP_BLOCK.format(key="paneseal"), re.MULTILINE)
_INDENTED_SECRETS = re.compile(r"^([ \t]+)(- )?secrets:[ \t]*(\{|#.*$|$)", re.MULTILINE)
_TOP_SCALAR = re.compile(r"^([A-Za-z_][\w-]*):[ \t]+(\S[^\n]*)$", re.MULTILINE)


def _cut_top_block(text: str, match: re.Match[str]) -> tuple[str, int]:
    """The lines of a top-level block (its key line, then indented, blank or comment
    lines) and the 0-based line it starts on."""
    start = match.start()
    lines = text[start:].split("\n")
    block = [lines[0]]
    for ln in lines[1:]:
        if ln.strip() == "" or ln[:1] in (" ", "\t") or ln.lstrip().startswith("#"):
            block.append(ln)
        else:
            break
    return "\n".join(block), text.count("\n", 0, start)


def _is_block_start(text: str, match: re.Match[str]) -> bool:
    """An indented ``secrets:`` opens a secrets block unless what follows is a list: then
    it is a pane titled ``secrets`` (``- secrets:`` + commands)."""
    if match.group(3) == "{":
        return True
    for ln in text[match.end() :].split("\n")[1:]:
        stripped = ln.strip()
        if stripped and not stripped.startswith("#"):
            return not stripped.startswith("-")
    return False


def _fallback_settings(text: str, reader: _Reader) -> dict[str, str | None]:
    """Top-level ``key: scalar`` lines, read one by one.  A key written more than once
    (typically in ERB branches) or holding ERB is None: only tmuxinator can know it."""
    out: dict[str, str | None] = {}
    for m in _TOP_SCALAR.finditer(text):
        key = m.group(1)
        if key in ("secrets", "paneseal", *WINDOW_KEYS):
            continue
        line = text.count("\n", 0, m.start())
        if key in out or any(t.first_line <= line <= t.last_line for t in reader.tags):
            out[key] = None
            continue
        try:
            node = _first_document(m.group(0))
        except (yaml.YAMLError, _TooDeep, RecursionError):
            continue
        if isinstance(node, yaml.MappingNode) and node.value:
            value = node.value[0][1]
            if isinstance(value, yaml.ScalarNode):
                out[key] = str(value.value)
    return out


def _fallback(path: Path, text: str, reader: _Reader) -> Project:
    """The file is not YAML even with ERB masked: read the top-level blocks and scalar
    settings line by line, by indentation."""
    for indented in _INDENTED_SECRETS.finditer(text):
        if _is_block_start(text, indented):
            line = text.count("\n", 0, indented.start()) + 1
            raise ConfigError(
                "a window-level secrets: block needs the file to be valid YAML before ERB runs",
                Location(str(path), line),
                hint="move ERB control tags (<% %>) out of windows:, or declare the secret at "
                "the top level",
            )
    secrets: tuple[SecretDecl, ...] = ()
    match = _TOP_SECRETS.search(text)
    if match:
        snippet, offset = _cut_top_block(text, match)
        try:
            root = _first_document(snippet)
        except (_TooDeep, RecursionError):
            raise ConfigError(
                f"nested more than {MAX_DEPTH} levels deep", Location(str(path), None, "secrets")
            ) from None
        except yaml.YAMLError as exc:
            problem, err_line = _yaml_problem(exc, snippet)
            raise ConfigError(
                f"block is not valid YAML: {problem}",
                Location(str(path), (err_line or 1) + offset, "secrets"),
            ) from None
        if isinstance(root, yaml.MappingNode):
            for k, v in root.value:
                if getattr(k, "value", None) == "secrets":
                    secrets = reader.secrets_block(v, "secrets", None, offset)
    overrides: dict[str, dict[str, Any]] = {}
    match = _TOP_PANESEAL.search(text)
    if match:
        snippet, offset = _cut_top_block(text, match)
        try:
            # padded with empty lines so every mark carries its line in the real file
            root = _first_document("\n" * offset + snippet)
        except (yaml.YAMLError, _TooDeep, RecursionError):
            raise ConfigError(
                "paneseal: is not a plain table of settings",
                Location(str(path), offset + 1, "paneseal"),
            ) from None
        if isinstance(root, yaml.MappingNode):
            for k, v in root.value:
                if getattr(k, "value", None) == "paneseal":
                    overrides = _provider_overrides(v, reader)
    settings = _fallback_settings(text, reader)
    return Project(path, secrets, (), settings, overrides, has_erb=True, yaml_valid=False)


def load_project(
    name: str | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Project:
    return parse_project(find_project(name, path=path, env=env))
