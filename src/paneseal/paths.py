"""Where paneseal keeps things, following the XDG base directory spec.

Read at call time (never at import) so tests and users can point ``HOME`` / ``XDG_*``
elsewhere per process.
"""

from __future__ import annotations

import os
import stat

# pathlib (with re, fnmatch, urllib) costs ~7 ms; ``paneseal start`` needs this module
# before it can get tmuxinator loading (paneseal.preload), so Path is imported on use.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path
    from typing import TypeVar

    PathT = TypeVar("PathT", str, Path)


def _xdg(var: str, default: str) -> Path:
    from pathlib import Path

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


def cache_home() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def cache_dir() -> Path:
    return cache_home() / "paneseal"


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
    from pathlib import Path

    return Path(runtime_dir_name())


def runtime_dir_name() -> str:
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isdir(base):
        return os.path.join(base, "paneseal")
    return f"/tmp/paneseal-{os.getuid()}"  # noqa: S108 - private 0700 dir, checked


def private_dir(path: PathT) -> PathT:
    """Create ``path`` 0700 (and check an existing one is ours and private)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or not stat.S_ISDIR(st.st_mode):
        raise PermissionError(f"{path} is not a private directory owned by this user")
    return path
