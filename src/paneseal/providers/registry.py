"""Find the provider class for a scheme through the ``paneseal.providers`` entry points.

The built-ins are declared in paneseal's own ``pyproject.toml`` exactly like a plug-in
would declare its own.  paneseal's own ``entry_points.txt`` is read first, directly (one
small file, found the way ``importlib.metadata`` finds it: first match on ``sys.path``),
because importing ``importlib.metadata`` and scanning every installed distribution costs
more than 10 ms at every pane start.  All distributions are scanned only for a scheme
paneseal does not provide itself.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from functools import cache
from typing import Any

from paneseal.errors import ProviderUnavailable, UnknownScheme
from paneseal.providers.base import Provider

GROUP = "paneseal.providers"
_OWN_METADATA = re.compile(r"paneseal-[^-]+\.(dist|egg)-info|paneseal\.egg-info")


def _parse_entry_points(text: str) -> dict[str, str]:
    """The ``[paneseal.providers]`` section of an entry_points.txt: name -> module:attr."""
    out: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == GROUP and "=" in line:
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


@cache
def _own_entry_points() -> dict[str, str]:
    for base in sys.path:
        try:
            names = os.listdir(base or ".")
        except OSError:
            continue
        for name in sorted(names):
            if _OWN_METADATA.fullmatch(name):
                try:
                    with open(os.path.join(base or ".", name, "entry_points.txt")) as fh:
                        return _parse_entry_points(fh.read())
                except OSError:
                    continue
    return {}  # pragma: no cover - running from a bare tree


@cache
def _all_entry_points() -> dict[str, str]:
    from importlib import metadata

    found = {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}
    found.update(_own_entry_points())  # a plug-in cannot shadow a built-in scheme
    return found


def installed_schemes() -> list[str]:
    return sorted(_all_entry_points())


def _entry_point(scheme: str) -> str:
    target = _own_entry_points().get(scheme) or _all_entry_points().get(scheme)
    if target is None:
        raise UnknownScheme(scheme, installed_schemes())
    return target


def is_known(scheme: str) -> bool:
    try:
        _entry_point(scheme)
    except UnknownScheme:
        return False
    return True


def _load(target: str) -> Any:
    module_name, _, attrs = target.split("[", maxsplit=1)[0].partition(":")  # drop "[extras]"
    obj: Any = importlib.import_module(module_name.strip())
    for attr in filter(None, attrs.strip().split(".")):
        obj = getattr(obj, attr)
    return obj


@cache
def provider_class(scheme: str) -> type[Provider]:
    target = _entry_point(scheme)
    try:
        cls = _load(target)
    except (ImportError, AttributeError) as exc:
        raise ProviderUnavailable(
            f"the {scheme}:// provider could not be loaded ({exc.__class__.__name__}: {exc})",
            provider=scheme,
            hint="reinstall paneseal, or install the plug-in that provides it",
        ) from None
    return cls  # type: ignore[no-any-return]
