"""Map a character offset in a project file back to its place: ``windows[1].server.panes[0]``.

The scan runs over the raw text; only files with findings are composed as YAML, with ERB
masked exactly as ``paneseal.config`` masks it (same length, same lines), so offsets in the
masked text are offsets in the file.  libyaml's marks count characters, not bytes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import yaml

from paneseal.config import ErbTag, erb_tags, mask_erb

try:
    LOADER: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    LOADER = yaml.SafeLoader

COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class Scalar:
    """One scalar of the document: its span in the file, key path and quoting style."""

    start: int
    end: int
    path: str
    style: str | None  # None (plain), "'", '"', "|", ">"


class Positions:
    """Line/column and key-path lookups for one file's text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self._line_starts.append(pos + 1)
            pos = text.find("\n", pos + 1)
        self._scalars: list[Scalar] | None = None
        self._starts: list[int] = []
        self.yaml_ok = False
        self._tags: list[ErbTag] | None = None

    # ------------------------------------------------------------------ lines
    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of ``offset``."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    @property
    def erb(self) -> list[ErbTag]:
        if self._tags is None:
            self._tags = erb_tags(self.text)
        return self._tags

    def in_erb(self, offset: int) -> bool:
        return any(t.start <= offset < t.end for t in self.erb)

    # ------------------------------------------------------------------ YAML
    def _build(self) -> list[Scalar]:
        if self._scalars is not None:
            return self._scalars
        scalars: list[Scalar] = []
        try:
            root = yaml.compose(mask_erb(self.text, self.erb), Loader=LOADER)
        except yaml.YAMLError:
            root = None
        else:
            self.yaml_ok = root is not None
        if root is not None:
            _walk(root, "", scalars)
        scalars.sort(key=lambda s: s.start)
        self._scalars = scalars
        self._starts = [s.start for s in scalars]
        return scalars

    def is_yaml(self) -> bool:
        """Whether the file (ERB masked) is a YAML document."""
        self._build()
        return self.yaml_ok

    def scalar_at(self, offset: int) -> Scalar | None:
        """The scalar whose span holds ``offset`` (scalars never nest, so there is one)."""
        scalars = self._build()
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and scalars[i].start <= offset < scalars[i].end:
            return scalars[i]
        return None

    def key_path(self, offset: int) -> str | None:
        """Where ``offset`` is: a key path, ``comment``, or None when the file is not YAML."""
        scalar = self.scalar_at(offset)
        if scalar is not None:
            return scalar.path or "(document)"
        line, col = self.line_col(offset)
        if "#" in self.line_text(line)[: col - 1]:
            return COMMENT
        return None if not self.yaml_ok else "(document)"


def _walk(node: yaml.Node, path: str, out: list[Scalar]) -> None:
    if isinstance(node, yaml.ScalarNode):
        out.append(Scalar(node.start_mark.index, node.end_mark.index, path, node.style))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", out)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            label = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            child = f"{path}.{label}" if path else label
            _walk(key, child, out)
            _walk(value, child, out)
