"""Standard Webhooks signatures (https://www.standardwebhooks.com/, version 1.0.0).

A secret is `whsec_` followed by the base64 of 24 to 64 random bytes; the HMAC key is those
bytes. Every delivery carries three headers:

    webhook-id:        msg_...            the same on every retry of one message
    webhook-timestamp: 1614265330         integer seconds, fresh on every attempt
    webhook-signature: v1,<base64>        HMAC-SHA256 over f"{id}.{timestamp}.{body}"

`webhook-signature` may hold several space-separated signatures (during a key rotation, say);
a receiver accepts the message when any `v1` one matches. `verify` is what a receiver does:
the tests use it, and so can anyone writing a receiver in Python.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300  # five minutes either way, as the specification suggests
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


class WebhookVerificationError(ValueError):
    """A webhook whose headers are missing, stale or whose signature does not match."""


def new_secret(nbytes: int = 32) -> str:
    """A fresh `whsec_` secret over `nbytes` random bytes (24 to 64)."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the bytes behind `whsec_` (the prefix is optional)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ and base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def _as_text(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _timestamp(timestamp: float | int) -> int:
    return math.floor(timestamp)


def signature_bytes(secret: str, msg_id: str, timestamp: float | int, body: str | bytes) -> bytes:
    signed = f"{msg_id}.{_timestamp(timestamp)}.".encode() + _as_text(body)
    return hmac.new(secret_key(secret), signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: float | int, body: str | bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">` keyed by the secret's bytes."""
    digest = signature_bytes(secret, msg_id, timestamp, body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def headers(secret: str, msg_id: str, timestamp: float | int, body: str | bytes) -> dict[str, str]:
    """The headers of one delivery attempt of a JSON webhook."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(_timestamp(timestamp)),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: str | bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Check a received webhook; raise `WebhookVerificationError` unless it is genuine and fresh.

    `headers` are looked up without regard to case. The timestamp must lie within `tolerance`
    seconds of `now` (either way: replayed and post-dated messages both fail).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not integer seconds") from None
    if timestamp < now - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("webhook-timestamp is too new")
    expected = signature_bytes(secret, msg_id, timestamp, body)
    for versioned in signatures.split(" "):
        version, sep, encoded = versioned.partition(",")
        if not sep or version != SIGNATURE_VERSION:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise WebhookVerificationError("no matching signature")
