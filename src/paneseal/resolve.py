"""References to values: deduplicate, group by provider, fetch concurrently, fail closed.

Every provider gets one ``fetch_many`` call with every distinct base reference of its
scheme, in its own thread, under its own deadline.  Threads are daemons: a backend that
never answers cannot keep paneseal alive past the deadline.  All failures of a run are
collected before anything is decided, so the user sees every problem in one report; if any
required secret failed, the caller gets ``ResolutionFailed`` and delivers nothing.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paneseal.errors import (
    Failure,
    FieldNotFound,
    InvalidValue,
    PanesealError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ReferenceError_,
    ResolutionFailed,
)
from paneseal.providers import registry
from paneseal.providers.base import Fetched, Provider, ProviderContext
from paneseal.refs import SecretRef
from paneseal.secret import Secret

if TYPE_CHECKING:  # pragma: no cover
    from paneseal.config import Project


@dataclass(frozen=True, slots=True)
class Request:
    """One secret to resolve: the variable name it will be delivered as, and its scope."""

    name: str
    ref: SecretRef
    optional: bool = False
    scope: str = "command"  # project | window | command
    window: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    request: Request
    secret: Secret | None
    error: ProviderError | ReferenceError_ | None
    provider: str
    duration: float  # seconds spent by the provider's batch (shared by its refs)

    @property
    def ok(self) -> bool:
        return self.secret is not None


@dataclass
class Resolution:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failures(self) -> list[Failure]:
        return [
            Failure(o.request.name, o.error, o.request.optional, o.request.ref)
            for o in self.outcomes
            if o.error is not None and not o.request.optional
        ]

    @property
    def warnings(self) -> list[Failure]:
        return [
            Failure(o.request.name, o.error, True, o.request.ref)
            for o in self.outcomes
            if o.error is not None and o.request.optional
        ]

    def raise_if_failed(self) -> None:
        failures = self.failures
        if failures:
            raise ResolutionFailed(failures)

    def values(self, scope_filter: Callable[[Request], bool] | None = None) -> dict[str, Secret]:
        return {
            o.request.name: o.secret
            for o in self.outcomes
            if o.secret is not None and (scope_filter is None or scope_filter(o.request))
        }


ContextFactory = Callable[[str], ProviderContext]


def _default_context(_scheme: str) -> ProviderContext:
    return ProviderContext()


def parse_field_document(text: str) -> Mapping[str, str] | None:
    """Read a secret that holds several values: JSON, YAML, or ``key: value`` lines."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return {str(k): field_text(v) for k, v in data.items()}
    if ":" in text or "=" in text:
        pairs: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith((" ", "\t", "#")):
                pairs.setdefault(key.strip(), value.strip())
        if pairs:
            # a YAML document with nested values: fall back to a real YAML parse
            if any(v == "" for v in pairs.values()):
                parsed = _yaml_mapping(text)
                if parsed is not None:
                    return parsed
            return pairs
    return _yaml_mapping(text)


def _yaml_mapping(text: str) -> Mapping[str, str] | None:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError:
        return None
    if isinstance(data, dict):
        return {str(k): field_text(v) for k, v in data.items()}
    return None


def field_text(value: Any) -> str:
    """A field's value as delivered text: scalars as written, nested values as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def select(fetched: Fetched, ref: SecretRef) -> str:
    """Pick the value a reference asks for out of a provider's document."""
    if ref.field is None:
        if fetched.value is not None:
            return fetched.value
        if fetched.fields is not None and len(fetched.fields) == 1:
            return next(iter(fetched.fields.values()))
        names = ", ".join(sorted(fetched.fields or {}))
        raise FieldNotFound(
            "this secret holds several fields",
            hint=f"add #FIELD to the reference; fields: {names}" if names else "add #FIELD",
        )
    fields = fetched.fields
    if fields is None and fetched.value is not None:
        fields = parse_field_document(fetched.value)
    if fields is None:
        raise FieldNotFound(
            f"field {ref.field!r} asked for, but the secret is not JSON, YAML or key: value text",
            hint="drop #field to take the whole value",
        )
    if ref.field not in fields:
        raise FieldNotFound(
            f"no field {ref.field!r} in this secret",
            hint="fields present: " + ", ".join(sorted(fields)),
        )
    return fields[ref.field]


def check_deliverable(value: str) -> None:
    if "\x00" in value:
        raise InvalidValue(
            "the value contains a NUL byte, which no environment variable can hold",
            hint="store it base64-encoded and decode it in the program",
        )


def _run_batch(
    provider: Provider, refs: list[SecretRef], out: dict[str, Any], done: threading.Event
) -> None:
    try:
        out["results"] = provider.fetch_many(refs)
    except PanesealError as exc:
        out["error"] = exc
    except Exception as exc:
        out["error"] = ProviderUnavailable(
            f"provider crashed ({exc.__class__.__name__})",
            hint="this is a bug in the provider; run with --debug for details",
        )
        out["exception"] = exc
    finally:
        done.set()


def resolve(
    requests: Sequence[Request],
    context_for: ContextFactory = _default_context,
    *,
    providers: Mapping[str, Provider] | None = None,
) -> Resolution:
    """Resolve every request; never raises for a secret's failure (see ``Resolution``)."""
    started: dict[str, Provider] = dict(providers or {})
    own: list[Provider] = []
    errors: dict[int, ProviderError | ReferenceError_] = {}
    by_scheme: dict[str, list[SecretRef]] = {}
    contexts: dict[str, ProviderContext] = {}

    for i, req in enumerate(requests):
        scheme = req.ref.scheme
        try:
            if scheme not in started:
                cls = registry.provider_class(scheme)
                contexts[scheme] = context_for(scheme)
                started[scheme] = cls(contexts[scheme])
                own.append(started[scheme])
            started[scheme].validate(req.ref)
        except (ProviderError, ReferenceError_) as exc:
            if isinstance(exc, ProviderError):
                exc.with_context(req.ref, scheme)
            errors[i] = exc
            continue
        bases = by_scheme.setdefault(scheme, [])
        if req.ref.base not in bases:
            bases.append(req.ref.base)

    batches: dict[str, tuple[threading.Thread, dict[str, Any], threading.Event, float]] = {}
    for scheme, refs in by_scheme.items():
        out: dict[str, Any] = {}
        done = threading.Event()
        t = threading.Thread(
            target=_run_batch,
            args=(started[scheme], refs, out, done),
            name=f"paneseal-{scheme}",
            daemon=True,
        )
        t.start()
        batches[scheme] = (t, out, done, time.monotonic())

    results: dict[str, Mapping[SecretRef, Fetched | ProviderError] | ProviderError] = {}
    durations: dict[str, float] = {}
    for scheme, (_t, out, done, t0) in batches.items():
        ctx = contexts.get(scheme) or context_for(scheme)
        remaining = ctx.timeout - (time.monotonic() - t0)
        if not done.wait(max(remaining, 0.0)):
            results[scheme] = ProviderTimeout(
                f"no answer within {ctx.timeout:g} s",
                provider=scheme,
                hint="check that the backend is reachable, or raise its timeout in config.toml",
            )
        elif "error" in out:
            results[scheme] = out["error"]
        else:
            results[scheme] = out["results"]
        durations[scheme] = time.monotonic() - t0

    resolution = Resolution()
    for i, req in enumerate(requests):
        scheme = req.ref.scheme
        if i in errors:
            resolution.outcomes.append(Outcome(req, None, errors[i], scheme, 0.0))
            continue
        got = results[scheme]
        try:
            if isinstance(got, ProviderError):
                raise got
            item = got.get(req.ref.base)
            if item is None:
                raise ProviderUnavailable("the provider returned no answer for this reference")
            if isinstance(item, ProviderError):
                raise item
            value = select(item, req.ref)
            check_deliverable(value)
        except ProviderError as exc:
            err = _copy_error(exc).with_context(req.ref, scheme)
            resolution.outcomes.append(Outcome(req, None, err, scheme, durations[scheme]))
            continue
        resolution.outcomes.append(
            Outcome(req, Secret(req.ref, value), None, scheme, durations[scheme])
        )
    for provider in own:
        _close_quietly(provider)
    return resolution


def _copy_error(exc: ProviderError) -> ProviderError:
    """One provider-wide error is shared by many refs: give each its own ref context."""
    if exc.ref is None:
        new = exc.__class__(exc.reason, provider=exc.provider, hint=exc.hint)
        return new
    return exc


def _close_quietly(provider: Provider) -> None:
    with contextlib.suppress(Exception):  # closing must never mask the real outcome
        provider.close()


def resolve_with_settings(
    requests: Sequence[Request], project: Project | None = None
) -> Resolution:
    """Resolve under config.toml's provider settings and the project's own overrides."""
    from paneseal.settings import load_settings

    settings = load_settings()
    overrides = project.provider_overrides if project is not None else None
    return resolve(requests, lambda scheme: settings.context_for(scheme, overrides))


def project_requests(project: Project) -> list[Request]:
    """Every secret a project declares: top level and each window's, each with its scope."""
    out = [Request(d.name, d.ref, d.optional, "project") for d in project.secrets]
    for window in project.windows:
        out += [Request(d.name, d.ref, d.optional, "window", window.index) for d in window.secrets]
    return out
