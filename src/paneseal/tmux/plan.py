"""What goes to which panes of one session (the only object that holds values while a
project starts).  Stdlib only: the shim imports it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Delivery:
    """``project`` reaches every pane of the session (now and later); ``windows[i]`` only
    the panes tmuxinator creates for the i-th window of the project file."""

    project: dict[str, str] = field(default_factory=dict)
    windows: dict[int, dict[str, str]] = field(default_factory=dict)

    def session_env(self) -> tuple[dict[str, str], dict[str, str | None]]:
        """Options for ``new-session -e`` (which also creates the first window's pane), and
        what to put back in the session environment right after: the project's value for a
        name the first window shadows, None (``set-environment -r``) for a first-window-only
        name, so panes created later do not inherit it."""
        first = self.windows.get(0, {})
        env = {**self.project, **first}
        after: dict[str, str | None] = {name: self.project.get(name) for name in first}
        return env, after

    def window_env(self, position: int) -> dict[str, str]:
        return dict(self.windows.get(position, {}))

    def positions(self) -> list[int]:
        """Window positions that have secrets of their own."""
        return sorted(pos for pos, env in self.windows.items() if env)

    @property
    def has_window_secrets(self) -> bool:
        return any(self.windows.values())

    def clear(self) -> None:
        """Drop the references we hold (Python cannot wipe str memory; this is best effort)."""
        self.project.clear()
        self.windows.clear()
