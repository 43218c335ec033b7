"""Random identifiers for tags, branches, Call-IDs and SDP session ids, cheaply.

RFC 3261 asks for a tag that is "cryptographically random with at least 32 bits of
randomness" (19.3), a branch unique across space and time (8.1.1.7) and recommends
cryptographically random Call-IDs (8.1.1.4). `secrets.token_hex` meets all three but makes a
`getrandom` system call for every identifier, and a bridged call needs about ten of them. Here
the same kernel randomness is read 4 KiB at a time and handed out in slices: every
identifier is still fresh cryptographic randomness (not a counter a peer could predict from
the last one), for one system call per few hundred identifiers. A forked child starts with
an empty pool, so parent and child never hand out the same bytes.
"""

from __future__ import annotations

import os
from typing import Final

_POOL_BYTES: Final = 4096


class _Pool:
    __slots__ = ("data", "used")

    def __init__(self) -> None:
        self.data = b""
        self.used = 0

    def take(self, count: int) -> bytes:
        start = self.used
        if start + count > len(self.data):
            self.data, start = os.urandom(max(_POOL_BYTES, count)), 0
        self.used = start + count
        return self.data[start : start + count]

    def clear(self) -> None:
        self.data, self.used = b"", 0


_pool: Final = _Pool()
os.register_at_fork(after_in_child=_pool.clear)


def token_hex(nbytes: int) -> str:
    """`nbytes` random bytes as hex, like `secrets.token_hex`."""
    return _pool.take(nbytes).hex()


def random_below_2_31() -> int:
    """A random integer in [0, 2**31): an SDP o= session id (RFC 4566 5.2)."""
    return int.from_bytes(_pool.take(4), "big") >> 1
