"""Reading a tmux command line the way tmux's own getopt does (only what the shim needs).

No imports: this module runs in the shim, once per tmux call tmuxinator makes.
"""

from __future__ import annotations

# tmux 3.3a: tmux [-2CDlNuvV] [-c shell-command] [-f file] [-L name] [-S path] [-T features]
GLOBAL_WITH_ARG = "cfLST"

NEW_SESSION = frozenset({"new-session", "new"})
NEW_PANE = frozenset({"new-window", "neww", "split-window", "splitw"})
ATTACH = frozenset({"attach-session", "attach", "switch-client", "switchc"})

# getopt strings of the commands we rewrite: letters followed by ':' take an argument
_OPTSTRINGS = {
    "new-session": "Ac:dDe:EF:f:n:Ps:t:x:Xy:",
    "new-window": "abc:de:F:kn:PSt:",
    "split-window": "bc:de:fF:hIl:p:Pt:vZ",
    "attach-session": "c:dEf:rt:x",
    "switch-client": "c:EFlnpt:rT:Z",
}
_CANONICAL = {
    "new": "new-session",
    "neww": "new-window",
    "splitw": "split-window",
    "attach": "attach-session",
    "switchc": "switch-client",
}


class TmuxArgv:
    """``globals`` is everything before the command, as given."""

    __slots__ = ("args", "command", "globals", "socket_name", "socket_path")

    def __init__(
        self,
        globals_: tuple[str, ...],
        command: str | None,
        args: tuple[str, ...],
        socket_name: str | None = None,
        socket_path: str | None = None,
    ) -> None:
        self.globals = globals_
        self.command = command
        self.args = args
        self.socket_name = socket_name
        self.socket_path = socket_path

    @property
    def canonical(self) -> str | None:
        if self.command is None:
            return None
        return _CANONICAL.get(self.command, self.command)

    def option(self, letter: str) -> str | None:
        """The value of ``-LETTER`` in the command's own flags (last one wins, like tmux)."""
        spec = _OPTSTRINGS.get(self.canonical or "")
        if spec is None:
            return None
        found: str | None = None
        i = 0
        args = self.args
        while i < len(args):
            arg = args[i]
            if arg == "--" or not arg.startswith("-") or arg == "-":
                break
            j = 1
            while j < len(arg):
                ch = arg[j]
                pos = spec.find(ch)
                if pos < 0:
                    return found  # unknown flag: tmux would fail; let it
                if pos + 1 < len(spec) and spec[pos + 1] == ":":
                    if j + 1 < len(arg):
                        value = arg[j + 1 :]
                    else:
                        i += 1
                        value = args[i] if i < len(args) else ""
                    if ch == letter:
                        found = value
                    break
                j += 1
            i += 1
        return found


def parse(argv: list[str] | tuple[str, ...]) -> TmuxArgv:
    i = 0
    socket_name: str | None = None
    socket_path: str | None = None
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in GLOBAL_WITH_ARG:
                if j + 1 < len(arg):
                    value = arg[j + 1 :]
                else:
                    i += 1
                    value = argv[i] if i < len(argv) else ""
                if ch == "L":
                    socket_name = value
                elif ch == "S":
                    socket_path = value
                break
            j += 1
        i += 1
    command = argv[i] if i < len(argv) else None
    rest = tuple(argv[i + 1 :]) if command is not None else ()
    return TmuxArgv(tuple(argv[:i]), command, rest, socket_name, socket_path)


def split_target(target: str | None) -> tuple[str, str] | None:
    """``SESSION:WINDOW[.PANE]`` -> (session, window); None for other target forms."""
    if not target or ":" not in target:
        return None
    session, _, rest = target.partition(":")
    window = rest.split(".", 1)[0]
    return session, window
