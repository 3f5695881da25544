"""The embedded store: one age-encrypted file per secret, no server needed.

Files live in ``$XDG_DATA_HOME/paneseal/store/NAME.age`` and are plain age (X25519), so
``age -d -i ~/.config/paneseal/identity.txt NAME.age`` reads them without paneseal.  The
identity and the store must be private to the user (0600 / 0700): anything looser is
refused with the ``chmod`` that fixes it, because a readable identity is a readable store.
Writes go to a temporary file in the same directory, are fsynced and renamed, so a crash
leaves the old value or the new one, never half of one; plaintext only ever lives in memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paneseal import paths
from paneseal.errors import ConfigError, SecretNotFound, StoreError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SUFFIX = ".age"
_AGE_HEADER = b"age-encryption.org/v1\n"


def validate_store_name(name: str) -> None:
    if not NAME_RE.fullmatch(name) or name.endswith(SUFFIX):
        raise ConfigError(
            f"invalid store name {name!r}",
            hint="use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')",
        )


def _check_private(path: Path, want_dir: bool, what: str) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise StoreError(
            f"{what} {path} does not exist",
            provider="store",
            hint="run 'paneseal store init'",
        ) from None
    if st.st_uid != os.getuid():
        raise StoreError(
            f"{what} {path} belongs to uid {st.st_uid}, not to you",
            provider="store",
            hint=f"chown {os.getuid()} {path}",
        )
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = "700" if want_dir else "600"
        raise StoreError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):o})",
            provider="store",
            hint=f"run: chmod {mode} {path}",
        )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` all at once: temp file in the same dir, fsync, rename."""
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


@dataclass(frozen=True)
class Store:
    directory: Path
    identity_file: Path

    @classmethod
    def default(cls) -> Store:
        return cls(paths.store_dir(), paths.identity_path())

    # ------------------------------------------------------------------ setup
    def init(self) -> tuple[str, bool]:
        """Create the identity and the store directory.  Returns (recipient, created)."""
        from pyrage import x25519

        _make_private_dir(self.directory)
        _make_private_dir(self.identity_file.parent)
        if self.identity_file.exists():
            return self._identity().to_public().__str__(), False
        ident = x25519.Identity.generate()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"# created: {stamp}\n# public key: {ident.to_public()}\n{ident}\n"
        atomic_write(self.identity_file, text.encode())
        return str(ident.to_public()), True

    def _identity(self) -> Any:
        from pyrage import x25519

        _check_private(self.identity_file.parent, True, "config directory")
        _check_private(self.identity_file, False, "identity")
        try:
            lines = self.identity_file.read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(
                f"cannot read identity {self.identity_file}: {exc.__class__.__name__}",
                provider="store",
            ) from None
        keys = [ln.strip() for ln in lines if ln.strip().startswith("AGE-SECRET-KEY-")]
        if len(keys) != 1:
            raise StoreError(
                f"identity {self.identity_file} must hold exactly one AGE-SECRET-KEY line",
                provider="store",
                hint="restore it from your backup, or move it away and run 'paneseal store init'",
            )
        try:
            return x25519.Identity.from_str(keys[0])
        except Exception:  # pyrage raises a bare exception type here
            raise StoreError(
                f"identity {self.identity_file} is not a valid age X25519 identity",
                provider="store",
            ) from None

    def identity_secret(self) -> bytes:
        """Key material derived uses (the audit MAC) start from this; never printed."""
        return str(self._identity()).encode()

    def _check_store_dir(self) -> None:
        _check_private(self.directory, True, "store directory")

    def _path(self, name: str) -> Path:
        validate_store_name(name)
        return self.directory / f"{name}{SUFFIX}"

    # ------------------------------------------------------------------ operations
    def set(self, name: str, value: bytes) -> None:
        import pyrage

        path = self._path(name)
        ident = self._identity()
        self._check_store_dir()
        ciphertext = pyrage.encrypt(value, [ident.to_public()])
        atomic_write(path, ciphertext)

    def get(self, name: str) -> bytes:
        return self.get_many([name])[name]

    def get_many(self, names: list[str]) -> dict[str, bytes]:
        """Decrypt several entries; raises the first problem (the provider answers per name)."""
        out: dict[str, bytes] = {}
        ident = self._identity()
        self._check_store_dir()
        for name in names:
            out[name] = self._decrypt(name, ident)
        return out

    def _decrypt(self, name: str, ident: Any) -> bytes:
        import pyrage

        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SecretNotFound(
                f"no entry {name!r} in the store",
                provider="store",
                hint=f"add it with: paneseal store set {name}",
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}", provider="store") from None
        if not data.startswith(_AGE_HEADER) and not data.startswith(b"-----BEGIN AGE"):
            raise StoreError(
                f"store entry {name!r} is not an age file (corrupt or foreign)",
                provider="store",
                hint=f"set it again: paneseal store set {name}",
            )
        try:
            return bytes(pyrage.decrypt(data, [ident]))
        except Exception as exc:  # pyrage.DecryptError and header errors
            reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            if "no matching keys" in reason.lower() or "no identity matched" in reason.lower():
                raise StoreError(
                    f"store entry {name!r} was not encrypted to this identity",
                    provider="store",
                    hint=f"use the identity it was written with, or set it again: "
                    f"paneseal store set {name}",
                ) from None
            raise StoreError(
                f"store entry {name!r} cannot be decrypted (corrupt or truncated)",
                provider="store",
                hint=f"set it again: paneseal store set {name}",
            ) from None

    def names(self) -> list[str]:
        self._check_store_dir()
        return sorted(
            p.name[: -len(SUFFIX)]
            for p in self.directory.iterdir()
            if p.name.endswith(SUFFIX) and not p.name.startswith(".")
        )

    def remove(self, name: str) -> None:
        path = self._path(name)
        self._check_store_dir()
        try:
            path.unlink()
        except FileNotFoundError:
            raise SecretNotFound(
                f"no entry {name!r} in the store", provider="store", hint="see: paneseal store ls"
            ) from None
        _fsync_dir(self.directory)
