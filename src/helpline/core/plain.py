"""Engine facts as plain data: what the store, the webhooks and the API turn into JSON; and
the equality the engine's named-tuple messages need to stay typed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, TypeVar

T = TypeVar("T")


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """Dataclasses, named tuples, enums, tuples and mappings, recursively, as JSON-ready data."""
    if type(value) in _SCALARS:  # most values: no dataclass or ABC check (a call's records
        return value  # and state messages go through here hundreds of times)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple: by field name
        return {name: plain(getattr(value, name)) for name in value._fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def typed_equality(cls: type[T]) -> type[T]:
    """A named tuple that equals only its own type: plain tuples compare by value alone, so
    `CancelTimer(t) == TimerFired(t)` would hold, and a test asserting which command the
    engine gave could pass on the wrong one. Hashing stays the tuple's (equal objects still
    hash equal). Equality is off the hot path: the simulator's heap breaks ties by serial."""

    def __eq__(self: tuple[Any, ...], other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self: tuple[Any, ...], other: object) -> bool:
        return not __eq__(self, other)

    cls.__eq__ = __eq__  # type: ignore[assignment,method-assign]
    cls.__ne__ = __ne__  # type: ignore[assignment,method-assign]
    cls.__hash__ = tuple.__hash__  # type: ignore[assignment]
    return cls
