"""What every repository shares: where its session comes from, ids, hashes, cursors, pages."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import CursorResult, Result, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from helpline.core.errors import ClientError, HelplineError

T = TypeVar("T")

Clock = Callable[[], float]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000  # every list caps its page size here


class InvalidCursor(ClientError):
    """A pagination cursor that this store did not hand out (or for another listing)."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("invalid cursor", details={"path": "cursor"})


class InvalidText(ClientError):
    """Text with a NUL character or a lone surrogate: no backend can store it."""

    code = "invalid_text"

    def __init__(self) -> None:
        super().__init__("text may not contain NUL characters or lone surrogates")


@contextmanager
def _own_errors_unwrapped() -> Iterator[None]:
    """Our own errors raised while binding parameters (`InvalidText`) come out as themselves,
    not wrapped in SQLAlchemy's `StatementError`, so the API maps them to 4xx."""
    try:
        yield
    except StatementError as exc:
        if isinstance(exc.orig, HelplineError):
            raise exc.orig from None
        raise


class SessionScope:
    """Where a repository gets its session.

    Unbound (the `Store`'s own repositories), each method runs in a transaction of its own and
    commits it. Bound to the session of a `UnitOfWork`, every method joins that transaction,
    and the unit of work commits or rolls back all of it at once (a record, the deletion of its
    live call and the webhooks it causes, for example).
    """

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        dialect: str,
        session: AsyncSession | None = None,
    ) -> None:
        self.maker = maker
        self.dialect = dialect  # "sqlite" or "postgresql"
        self.session = session

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        with _own_errors_unwrapped():
            if self.session is not None:
                yield self.session
                return
            async with self.maker() as session, session.begin():
                yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction, for statements on tables that need none of an
        ORM session's work (a group commit's executemany: the session's begin and commit
        cost more than a batch of ten calls' rows). Bound to a unit of work, it is that
        session's connection, in its transaction."""
        with _own_errors_unwrapped():
            if self.session is not None:
                yield await self.session.connection()
                return
            engine: AsyncEngine = self.maker.kw["bind"]
            async with engine.begin() as conn:
                yield conn

    def insert(self, entity: type[Any] | Table) -> postgresql.Insert | sqlite.Insert:
        """A dialect INSERT that can take `on_conflict_do_nothing` (idempotent writes), of a
        mapped class or (for executemany without the ORM's per-row work) of its table."""
        if self.dialect == "postgresql":
            return postgresql.insert(entity)
        return sqlite.insert(entity)


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an INSERT, UPDATE or DELETE (`execute` types its result loosely)."""
    return int(cast(CursorResult[Any], result).rowcount)


def new_id(prefix: str) -> str:
    """A random public id such as `key_3f9c0a...` (96 bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret(prefix: str) -> str:
    """A 256-bit random token, prefixed so secret scanners can recognise it."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """sha256 hex. Secrets are 256-bit random tokens, so a fast hash is right (no KDF)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(int(limit), MAX_LIMIT))


def encode_cursor(kind: str, *values: Any) -> str:
    """An opaque cursor: urlsafe base64 of JSON `[kind, *values]` (floats round-trip exactly)."""
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, kind: str, types: Sequence[type]) -> list[Any]:
    """The values of a cursor of `kind`, checked against `types`; `InvalidCursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None
    if not isinstance(values, list) or len(values) != len(types) + 1 or values[0] != kind:
        raise InvalidCursor()
    out: list[Any] = []
    for raw_value, typ in zip(values[1:], types, strict=True):
        value = raw_value
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # JSON writes 3.0 as 3.0, but be lenient
        if not isinstance(value, typ) or isinstance(value, bool):
            raise InvalidCursor()
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidCursor()
        if isinstance(value, int) and not -(2**63) <= value < 2**63:  # BIGINT
            raise InvalidCursor()
        out.append(value)
    return out


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; `next_cursor` is None on the last page."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


async def fetch_page(
    session: AsyncSession, stmt: Select[T], size: int, cursor_of: Callable[[T], str]
) -> Page[T]:
    """One page of an ordered keyset query: ask for one row more than `size`; if it comes,
    there is a next page, whose cursor `cursor_of` makes from the page's last row."""
    rows = list((await session.scalars(stmt.limit(size + 1))).all())
    if len(rows) <= size:
        return Page(rows, None)
    del rows[size:]
    return Page(rows, cursor_of(rows[-1]))
