"""The tables, as SQLAlchemy 2 typed declarative models.

Every row carries `tenant_id` (a foreign key to `tenants`, deleted with its tenant), and every
tenant-facing read filters on it: another tenant's id looks like it does not exist. Times are
epoch seconds as double precision floats, like the engine's clock. The initial Alembic
migration (`migrations/versions/0001_initial.py`) creates exactly these tables;
`tests/store/test_store_migrations.py` compares the two on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy import Text as _Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from helpline.store.base import InvalidText

# names for constraints and indexes, so the migration and the models agree on every backend
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _checked(value: str | None) -> str | None:
    # PostgreSQL cannot store NUL, and no driver can encode a lone surrogate: refuse them as
    # the caller's mistake (a 4xx), never a driver error (a 500). Reads bind through here too.
    if value is not None and ("\x00" in value or not value.isascii()):
        if "\x00" in value:
            raise InvalidText()
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidText() from None
    return value


class Str(TypeDecorator[str]):
    """VARCHAR that refuses text no backend can store (see `_checked`)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return _checked(value)


class Text(TypeDecorator[str]):
    """TEXT that refuses text no backend can store (see `_checked`)."""

    impl = _Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return _checked(value)


# BIGINT ids that autoincrement: SQLite only makes an INTEGER PRIMARY KEY a rowid alias
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {float: Double(), str: Str(), dict[str, Any]: JSON()}


def _tenant_fk(*, primary_key: bool = False, index: bool = False) -> Mapped[str]:
    return mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=primary_key, index=index
    )


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    created_at: Mapped[float]


class ApiKey(Base):
    """A tenant API key (seed 004: HTTP Basic, key id and secret). Only the secret's hash."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(primary_key=True)  # the public key id
    tenant_id: Mapped[str] = _tenant_fk(index=True)
    secret_hash: Mapped[str]  # sha256 hex: secrets are 256-bit random tokens
    label: Mapped[str]
    created_at: Mapped[float]
    revoked_at: Mapped[float | None]


class AgentSession(Base):
    """An agent's login session (seed 002 "Login"); the token is kept as its sha256."""

    __tablename__ = "agent_sessions"
    __table_args__ = (Index(None, "tenant_id", "agent_id", "created_at"),)

    token_hash: Mapped[str] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    agent_id: Mapped[str]
    created_at: Mapped[float]
    expires_at: Mapped[float]
    revoked_at: Mapped[float | None]


class AppToken(Base):
    """An application token (Call Center Studio style): with an agent's e-mail, it logs in."""

    __tablename__ = "app_tokens"

    id: Mapped[str] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk(index=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    label: Mapped[str]
    created_at: Mapped[float]
    revoked_at: Mapped[float | None]


class CenterConfig(Base):
    """The whole center document of a tenant; `version` goes up by one on every write."""

    __tablename__ = "center_configs"

    tenant_id: Mapped[str] = _tenant_fk(primary_key=True)
    version: Mapped[int]
    document: Mapped[dict[str, Any]]
    updated_at: Mapped[float]


class CallRecordRow(Base):
    """One call's record (`core.records.CallRecord`) plus what is added after the call."""

    __tablename__ = "call_records"
    __table_args__ = (
        Index(None, "tenant_id", "ended_at", "call_id"),  # keyset listing
        # the wallboard's day figures (records.queue_figures) read only the index (0006)
        Index(None, "tenant_id", "ended_at", "queue_id", "result", "wait_s"),
    )

    tenant_id: Mapped[str] = _tenant_fk(primary_key=True)
    call_id: Mapped[str] = mapped_column(primary_key=True)
    direction: Mapped[str]
    from_number: Mapped[str]
    to_number: Mapped[str]
    result: Mapped[str]
    disconnected_by: Mapped[str]
    end_reason: Mapped[str]
    created_at: Mapped[float]
    queued_at: Mapped[float | None]
    offered_at: Mapped[float | None]
    answered_at: Mapped[float | None]
    ended_at: Mapped[float]
    wait_s: Mapped[float]
    talk_s: Mapped[float]
    hold_s: Mapped[float]
    wrap_up_s: Mapped[float | None]
    queue_id: Mapped[str | None]
    agent_id: Mapped[str | None]
    ivr_tree: Mapped[str | None]
    ivr_path: Mapped[list[str]] = mapped_column(JSON)
    keys: Mapped[str]
    priority: Mapped[int]
    legs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    recorded: Mapped[bool] = mapped_column(Boolean)
    recording_url: Mapped[str | None]
    voicemail_url: Mapped[str | None]  # the caller's message, when the call went to voicemail
    disposition: Mapped[str | None]
    notes: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


class LiveCall(Base):
    """A call in progress: inserted when it starts, deleted with the writing of its record."""

    __tablename__ = "live_calls"

    tenant_id: Mapped[str] = _tenant_fk(primary_key=True)
    call_id: Mapped[str] = mapped_column(primary_key=True)
    started_at: Mapped[float]
    data: Mapped[dict[str, Any]]


class WebhookSubscription(Base):
    """A webhook endpoint of a tenant. `event_types` filters; empty takes every event."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk(index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str]  # whsec_...: kept in clear, it signs every delivery
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None]
    created_at: Mapped[float]


class OutboxMessage(Base):
    """One outgoing HTTP request, delivered at least once by the outbox worker."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "tenant_id", "message_id", unique=True),  # a message id, one message
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk(index=True)
    kind: Mapped[str]  # webhook | hangup_url | notify
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str]  # POST | GET
    headers: Mapped[dict[str, Any]]
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str]  # the webhook-id: the same on every retry
    status: Mapped[str]  # pending | delivered | failed | disabled
    attempts: Mapped[int]
    next_attempt_at: Mapped[float]
    created_at: Mapped[float]
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    """One try at delivering an outbox message, for the tenant to list."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index(None, "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = _tenant_fk()
    at: Mapped[float]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float]


class Recording(Base):
    """Metadata of a call recording (the media lives at `url`)."""

    __tablename__ = "recordings"
    __table_args__ = (Index(None, "tenant_id", "call_id"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    call_id: Mapped[str]
    url: Mapped[str] = mapped_column(Text)
    duration_s: Mapped[float | None]
    content_type: Mapped[str]
    created_at: Mapped[float]


class EventLogEntry(Base):
    """The append-only event log of a tenant; `seq` counts from 1 per tenant."""

    __tablename__ = "event_log"

    tenant_id: Mapped[str] = _tenant_fk(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[float]
    kind: Mapped[str]
    data: Mapped[dict[str, Any]]
