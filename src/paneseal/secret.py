"""The one type that holds a secret value.

``str``/``repr``/f-strings show the reference only, so a value cannot reach a log line,
an exception message or a traceback with locals by accident.  ``reveal()`` is called only
at the moment of delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paneseal.refs import SecretRef


@dataclass(frozen=True, slots=True)
class Secret:
    ref: SecretRef
    _value: str = field(repr=False, compare=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return f"<secret {self.ref}>"

    def __repr__(self) -> str:
        return f"Secret({str(self.ref)!r})"

    def __format__(self, spec: str) -> str:
        return str(self)
