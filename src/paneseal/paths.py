"""Where paneseal keeps things, following the XDG base directory spec.

Read at call time (never at import) so tests and users can point ``HOME`` / ``XDG_*``
elsewhere per process.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_home() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_home() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_home() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state")


def config_dir() -> Path:
    return config_home() / "paneseal"


def store_dir() -> Path:
    return data_home() / "paneseal" / "store"


def identity_path() -> Path:
    return config_dir() / "identity.txt"


def settings_path() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    return state_home() / "paneseal"


def runtime_dir() -> Path:
    """A private per-user directory for sockets; ``$XDG_RUNTIME_DIR`` when it exists."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isdir(base):
        return Path(base) / "paneseal"
    return Path("/tmp") / f"paneseal-{os.getuid()}"  # noqa: S108 - private 0700 dir, checked
