"""Find the provider class for a scheme through the ``paneseal.providers`` entry points.

The built-ins are declared in paneseal's own ``pyproject.toml`` exactly like a plug-in
would declare its own.  paneseal's own distribution is read first (one small file), and
all installed distributions are scanned only for a scheme it does not provide, because the
full scan costs milliseconds at every pane start.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

from paneseal.errors import ProviderUnavailable, UnknownScheme
from paneseal.providers.base import Provider

GROUP = "paneseal.providers"


@cache
def _own_entry_points() -> dict[str, metadata.EntryPoint]:
    try:
        eps = metadata.distribution("paneseal").entry_points
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return {}
    return {ep.name: ep for ep in eps if ep.group == GROUP}


@cache
def _all_entry_points() -> dict[str, metadata.EntryPoint]:
    found = {ep.name: ep for ep in metadata.entry_points(group=GROUP)}
    found.update(_own_entry_points())  # a plug-in cannot shadow a built-in scheme
    return found


def installed_schemes() -> list[str]:
    return sorted(_all_entry_points())


def _entry_point(scheme: str) -> metadata.EntryPoint:
    ep = _own_entry_points().get(scheme) or _all_entry_points().get(scheme)
    if ep is None:
        raise UnknownScheme(scheme, installed_schemes())
    return ep


def is_known(scheme: str) -> bool:
    try:
        _entry_point(scheme)
    except UnknownScheme:
        return False
    return True


@cache
def provider_class(scheme: str) -> type[Provider]:
    ep = _entry_point(scheme)
    try:
        cls = ep.load()
    except ImportError as exc:
        raise ProviderUnavailable(
            f"the {scheme}:// provider could not be loaded ({exc.__class__.__name__}: {exc})",
            provider=scheme,
            hint="reinstall paneseal, or install the plug-in that provides it",
        ) from None
    return cls  # type: ignore[no-any-return]
