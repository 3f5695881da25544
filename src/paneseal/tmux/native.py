"""The compiled shim (``shim.c``): built once per user with the system C compiler, cached.

tmuxinator makes about 60 tmux calls per start and every one of them passes the shim.
Starting ``sh`` costs ~0.6 ms a call, a static C program ~0.25 ms: on the 8-pane benchmark
project that is 30 ms against 12 ms of a ~210 ms start (bench/bench_start.py).  Both
front-ends keep the same contract (tests/tmux/test_relay.py runs its cases on each).

The binary is cached under ``$XDG_CACHE_HOME/paneseal/`` keyed by the hash of its source,
in a 0700 directory checked like every other private directory of paneseal.  No compiler,
a failed build or ``PANESEAL_SHIM=sh``: the ``sh`` shim is used, and nothing else changes.
The binary never holds a value: it sees the run's token, argv and tmux's replies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from paneseal import paths

SOURCE = Path(__file__).resolve().parent / "shim.c"
_BUILD_TIMEOUT = 60.0


def compiled_shim() -> Path | None:
    """The cached binary, building it first if needed; None means: use the ``sh`` shim."""
    if os.environ.get("PANESEAL_SHIM", "") == "sh":
        return None
    try:
        source = SOURCE.read_bytes()
    except OSError:
        return None
    binary = paths.cache_dir() / f"tmux-shim-{hashlib.sha256(source).hexdigest()[:16]}"
    try:
        if _trusted(binary):
            return binary
        return _build(source, binary)
    except OSError:
        return None


def _trusted(binary: Path) -> bool:
    """Ours, not writable by anyone else, in our private directory."""
    try:
        st = binary.lstat()
    except FileNotFoundError:
        return False
    paths.private_dir(binary.parent)  # raises if the directory is not ours and 0700
    return (
        st.st_uid == os.getuid()
        and not st.st_mode & 0o022
        and binary.is_file()
        and not binary.is_symlink()
    )


def _build(source: bytes, binary: Path) -> Path | None:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    paths.private_dir(binary.parent)
    tmp = binary.with_name(f".{binary.name}.{os.getpid()}.{os.urandom(4).hex()}")
    src = tmp.with_suffix(".c")
    try:
        src.write_bytes(source)
        # static when the C library allows it: the dynamic loader costs ~0.1 ms a call
        for extra in (["-static"], []):
            r = subprocess.run(
                [compiler, "-O2", "-s", *extra, "-o", str(tmp), str(src)],
                capture_output=True,
                timeout=_BUILD_TIMEOUT,
                check=False,
            )
            if r.returncode == 0 and _works(tmp):
                tmp.chmod(0o700)
                os.replace(tmp, binary)
                return binary
        return None
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        for leftover in (src, tmp):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _works(binary: Path) -> bool:
    """Run outside a run directory, the shim must refuse (and so prove it runs at all)."""
    try:
        r = subprocess.run([str(binary), "-V"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 1 and b"run directory" in r.stderr


def install(binary: Path, shim: Path, real: str, pid: int) -> None:
    """Put the binary in a run directory as ``RUN/bin/<name>``, with ``RUN/real`` and
    ``RUN/pid``, which it reads instead of an environment tmuxinator's hooks could see."""
    run = shim.parent.parent
    (run / "pid").write_text(f"{pid}\n", encoding="ascii")
    os.symlink(real, run / "real")
    try:
        os.link(binary, shim)  # same file system: no copy
    except OSError:
        shutil.copyfile(binary, shim)
    shim.chmod(0o700)


__all__ = ["compiled_shim", "install"]
