"""Engine facts as plain data: what the store, the webhooks and the API turn into JSON; and
the guard that keeps the engine's hot messages read-only when they run as Python."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

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


def freeze_interpreted(*classes: type) -> None:
    """Make the engine's hot messages read-only when they run as Python, as compiled they are.

    The messages every call makes (`commands.StartTimer`, `events.CallArrived`, `Timer`, ...)
    are plain classes with `Final` fields and an `__init__` of their own: compiled by mypyc
    (hatch_build.py) that is a native class, built in C in about 30 ns where a named tuple
    takes 130 ns and a frozen dataclass 400 ns (issue 3: the simulator builds a dozen for
    every caller), and its `Final` fields are read-only at run time. Run as Python (no
    compiler, `HELPLINE_PURE_PYTHON=1`), only mypy would hold them, so this guard gives such a
    class the same refusal: a field is set once, by `__init__`, and no other attribute at all.
    The `@dataclass(init=False)` on each still gives typed equality (an instance equals only
    its own type), `repr`, `dataclasses.fields` for `plain()`, and `dataclasses.replace`.
    """
    for cls in classes:
        if "__dict__" in dir(cls):  # an interpreted class: compiled ones have no instance dict
            cls.__setattr__ = _set_once  # type: ignore[method-assign,assignment]
            cls.__delattr__ = _never_delete  # type: ignore[method-assign,assignment]


def _set_once(self: Any, name: str, value: object) -> None:
    if name in self.__dict__ or name not in type(self).__dataclass_fields__:
        raise AttributeError(f"attribute {name!r} of {type(self).__name__!r} is not writable")
    self.__dict__[name] = value


def _never_delete(self: Any, name: str) -> None:
    raise AttributeError(f"attribute {name!r} of {type(self).__name__!r} is not writable")
