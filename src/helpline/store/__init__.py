"""The persistence layer: SQLAlchemy 2 (async) on SQLite or PostgreSQL, Alembic migrations.

`Store` groups the repositories; `store.transaction()` gives a `UnitOfWork` whose changes
commit together. Every tenant-facing read takes the tenant id and filters on it.
"""

from helpline.store.base import MAX_LIMIT, InvalidCursor, InvalidText, Page
from helpline.store.database import (
    DEFAULT_URL,
    URL_ENV,
    alembic_config,
    create_database,
    create_engine,
    database_url,
    dispose,
    migrate,
)
from helpline.store.facade import Store, UnitOfWork
from helpline.store.outbox import OutboxKind, OutboxStatus
from helpline.store.serialize import record_to_dict, row_to_call_record

__all__ = [
    "DEFAULT_URL",
    "MAX_LIMIT",
    "URL_ENV",
    "InvalidCursor",
    "InvalidText",
    "OutboxKind",
    "OutboxStatus",
    "Page",
    "Store",
    "UnitOfWork",
    "alembic_config",
    "create_database",
    "create_engine",
    "database_url",
    "dispose",
    "migrate",
    "record_to_dict",
    "row_to_call_record",
]
