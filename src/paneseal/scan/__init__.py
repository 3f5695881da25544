"""Hard-coded secret scanner for tmuxinator projects.

``rules`` is the declarative rule table, ``scanner`` runs it over raw text, ``positions``
maps hits back to key paths, ``baseline`` keeps accepted findings as salted hashes and
``formats`` renders text, JSON and SARIF.  Nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import os
import secrets

from paneseal import paths
from paneseal.scan.scanner import Finding, scan_file, scan_text

__all__ = ["Finding", "default_salt", "scan_file", "scan_text"]


def default_salt() -> bytes:
    """The per-user fingerprint salt, made on first use (0600).

    Fingerprints must be stable between runs (so JSON/SARIF consumers can track a finding)
    but must not be a plain hash a reader could brute-force back to ``postgres``.  When the
    state directory is not writable the salt is random for this run only.
    """
    path = paths.state_dir() / "scan-salt"
    with contextlib.suppress(OSError, ValueError):
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    salt = secrets.token_bytes(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(salt.hex() + "\n")
    except FileExistsError:
        with contextlib.suppress(OSError, ValueError):
            return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except OSError:
        pass
    return salt
