"""paneseal: deliver secrets to tmuxinator panes by reference.

The public API is small and imported lazily so that ``import paneseal`` costs nothing at
pane start-up.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["PanesealError", "Secret", "SecretRef", "__version__", "load_project", "resolve"]

# ``typing`` costs ~6 ms to import, paid before ``paneseal start`` can get tmuxinator
# loading (paneseal.preload); type checkers treat this name as they do typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


def __getattr__(name: str) -> Any:
    if name == "SecretRef":
        from paneseal.refs import SecretRef

        return SecretRef
    if name == "Secret":
        from paneseal.secret import Secret

        return Secret
    if name == "PanesealError":
        from paneseal.errors import PanesealError

        return PanesealError
    if name == "load_project":
        from paneseal.config import load_project

        return load_project
    if name == "resolve":
        from paneseal.resolve import resolve

        return resolve
    raise AttributeError(name)
