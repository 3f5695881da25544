"""Secret names and reference text: the checks ``--secret NAME=REF`` needs.

Kept apart from ``paneseal.config`` so that ``paneseal run --secret ...`` without a project
file never imports the YAML machinery: every pane start pays for what it imports.
``paneseal.config`` re-exports everything here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from paneseal.errors import ConfigError, Location, ReferenceError_
from paneseal.refs import SecretRef

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Names a secret may not take: each would let a value hijack the pane's shell, its
# dynamic linker or its interpreters, or break tmux itself.  Documented in docs/secrets-block.md.
RESERVED_NAMES: Mapping[str, str] = {
    "PATH": "decides which programs run",
    "HOME": "decides where dotfiles and credentials are read from",
    "SHELL": "decides which shell tmux starts",
    "USER": "identity seen by every program",
    "LOGNAME": "identity seen by every program",
    "PWD": "the shell's idea of the working directory",
    "TERM": "terminal capabilities tmux depends on",
    "TMUX": "tells programs which tmux server they are in",
    "TMUX_PANE": "tells programs which pane they are in",
    "TMUX_TMPDIR": "decides where tmux's sockets live",
    "LD_PRELOAD": "injects code into every dynamically linked program",
    "LD_LIBRARY_PATH": "redirects every dynamically linked program's libraries",
    "LD_AUDIT": "injects code into the dynamic linker",
    "PYTHONPATH": "injects code into every Python program",
    "PYTHONSTARTUP": "runs code in every interactive Python",
    "PYTHONHOME": "redirects the Python standard library",
    "PERL5LIB": "injects code into every Perl program",
    "PERL5OPT": "injects options into every Perl program",
    "RUBYLIB": "injects code into every Ruby program (tmuxinator included)",
    "RUBYOPT": "injects options into every Ruby program",
    "NODE_OPTIONS": "injects options into every Node.js program",
    "BASH_ENV": "a file every non-interactive bash runs",
    "ENV": "a file every interactive sh runs",
    "ZDOTDIR": "where zsh reads its start-up files",
    "PROMPT_COMMAND": "a command bash runs before every prompt",
    "PS1": "the prompt: can run commands through expansions",
    "PS4": "the trace prompt: can run commands through expansions",
    "IFS": "how the shell splits words",
    "CDPATH": "redirects every cd",
    "GLOBIGNORE": "changes how the shell expands globs",
    "SHELLOPTS": "turns shell options on",
    "BASHOPTS": "turns shell options on",
    "HISTFILE": "where shell history is written",
    "EDITOR": "a program many tools run",
    "VISUAL": "a program many tools run",
    "PAGER": "a program many tools run",
    "GIT_SSH_COMMAND": "a command git runs",
    "SSH_AUTH_SOCK": "redirects the SSH agent",
    "GNUPGHOME": "redirects GnuPG and pass",
    "LANG": "the locale every program uses",
    "LC_ALL": "the locale every program uses",
    "TZ": "the time zone every program uses",
    "TMPDIR": "where every program writes temporary files",
}
RESERVED_PREFIXES = ("LD_", "DYLD_", "PANESEAL_", "BASH_FUNC_")


def validate_name(name: str, where: Location) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a valid environment variable name",
            where,
            hint="use letters, digits and '_', not starting with a digit",
        )
    if name in RESERVED_NAMES:
        raise ConfigError(
            f"{name} may not be a secret name: it {RESERVED_NAMES[name]}",
            where,
            hint="choose another name, for example APP_" + name,
        )
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            raise ConfigError(
                f"{name} may not be a secret name: names starting with {prefix} are reserved",
                where,
                hint="choose another name",
            )


def parse_ref_text(text: str, where: Location) -> SecretRef:
    """Parse a reference's syntax.  Whether its scheme is installed is decided at resolution,
    so an unknown scheme is reported together with every other failing secret."""
    try:
        ref = SecretRef.parse(text)
    except ReferenceError_ as exc:
        raise ConfigError(str(exc), where) from None
    return ref
