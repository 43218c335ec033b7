"""Timers seconds away, kept in slots: one event-loop timer per slot in use, not one each.

Most of a SIP call's transaction timers wait out 64*T1 (32 s: B, F, H, J, L) or T4 (5 s:
K, I), and most of those are cancelled or fire to forget a finished transaction (RFC 3261
17.1.1.2, 17.2.1, 17.2.2). At 400 calls/s that is some 50,000 running at once, and each
event-loop timer is a handle, a libuv timer, a bound method and a context, which every
collection of the garbage collector walks (runtime/gc_pacing.py). A timer here is one
entry in a dict, and fires up to one slot late, which these timers allow: they bound how
long a transaction waits, and nothing is sent on time by them but the retransmissions of
the short timers, which stay on the loop's timers (`SipStack`).

`TimerWheel` decides, with time as an input; the stack schedules a loop timer for each
slot `add` reports new and hands that slot's due entries over with `pop_slot`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

RESOLUTION_S = 0.1


class TimerWheel(Generic[K, V]):
    """Keys due at a time, grouped by slot of `resolution` seconds, each with a value."""

    def __init__(self, resolution: float = RESOLUTION_S) -> None:
        if resolution <= 0:
            raise ValueError(f"resolution: must be positive, got {resolution}")
        self.resolution = resolution
        self._slots: dict[int, dict[K, V]] = {}
        self._slot_of: dict[K, int] = {}

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def slot_time(self, slot: int) -> float:
        """When `slot` is due: its end, so no entry of it fires early."""
        return slot * self.resolution

    def add(self, key: K, value: V, due: float) -> int | None:
        """Run `key` at `due` or up to one slot later (a key already here is moved). The
        slot, when it had nothing in it before (schedule a loop timer for it), else None."""
        self.cancel(key)
        slot = math.ceil(due / self.resolution)
        entries = self._slots.get(slot)
        self._slot_of[key] = slot
        if entries is None:
            self._slots[slot] = {key: value}
            return slot
        entries[key] = value
        return None

    def cancel(self, key: K) -> V | None:
        """Forget `key`; its value, or None when it was not here."""
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return None
        entries = self._slots[slot]
        value = entries.pop(key)
        if not entries:
            del self._slots[slot]  # its loop timer finds nothing and does nothing
        return value

    def pop_slot(self, slot: int) -> dict[K, V]:
        """The entries of `slot`, in the order they were added, forgotten here."""
        entries = self._slots.pop(slot, None)
        if entries is None:
            return {}
        for key in entries:
            del self._slot_of[key]
        return entries

    def clear(self) -> None:
        self._slots.clear()
        self._slot_of.clear()
