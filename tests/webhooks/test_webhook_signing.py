"""Standard Webhooks signatures: the specification's own test vector, headers and `verify`."""

from __future__ import annotations

import base64

import pytest

from helpline.webhooks import signing
from helpline.webhooks.signing import WebhookVerificationError

# the vector of the Standard Webhooks reference libraries (libraries/python/tests)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_the_specification_vector() -> None:
    assert signing.sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    assert signing.sign(SECRET, MSG_ID, TIMESTAMP, BODY.encode()) == SIGNATURE
    # the prefix is optional on the receiving side; fractions of a second are dropped
    assert signing.sign(SECRET.removeprefix("whsec_"), MSG_ID, TIMESTAMP + 0.9, BODY) == SIGNATURE


def test_headers_of_a_delivery() -> None:
    headers = signing.headers(SECRET, MSG_ID, TIMESTAMP, BODY)
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SIGNATURE,
        "content-type": "application/json",
    }


def test_verify_accepts_the_vector_within_tolerance() -> None:
    headers = signing.headers(SECRET, MSG_ID, TIMESTAMP, BODY)
    signing.verify(SECRET, headers, BODY, now=TIMESTAMP)
    signing.verify(SECRET, headers, BODY.encode(), now=TIMESTAMP + 299)
    signing.verify(SECRET, {k.upper(): v for k, v in headers.items()}, BODY, now=TIMESTAMP - 299)


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({"body": '{"test": 2432232315}'}, TIMESTAMP),  # tampered body
        ({}, TIMESTAMP + 301),  # too old (a replay)
        ({}, TIMESTAMP - 301),  # too new
        ({"secret": signing.new_secret()}, TIMESTAMP),  # another secret
        ({"webhook-id": "msg_other"}, TIMESTAMP),
        ({"webhook-timestamp": str(TIMESTAMP + 1)}, TIMESTAMP),
        ({"webhook-timestamp": "hello"}, TIMESTAMP),
        ({"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}, TIMESTAMP),
        ({"webhook-signature": SIGNATURE.replace("v1,", "v2,")}, TIMESTAMP),
        ({"webhook-signature": "v1,not base64!"}, TIMESTAMP),
        ({"webhook-signature": ""}, TIMESTAMP),
    ],
)
def test_verify_rejects(change: dict[str, str], now: float) -> None:
    headers = signing.headers(SECRET, MSG_ID, TIMESTAMP, BODY)
    body = change.pop("body", BODY)
    secret = change.pop("secret", SECRET)
    headers.update(change)
    with pytest.raises(WebhookVerificationError):
        signing.verify(secret, headers, body, now=now)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_missing_headers(missing: str) -> None:
    headers = signing.headers(SECRET, MSG_ID, TIMESTAMP, BODY)
    del headers[missing]
    with pytest.raises(WebhookVerificationError):
        signing.verify(SECRET, headers, BODY, now=TIMESTAMP)


def test_verify_takes_any_of_several_signatures() -> None:
    headers = signing.headers(SECRET, MSG_ID, TIMESTAMP, BODY)
    headers["webhook-signature"] = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            SIGNATURE,
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ]
    )
    signing.verify(SECRET, headers, BODY, now=TIMESTAMP)


def test_new_secrets() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert len(signing.secret_key(signing.new_secret(24))) == 24
    assert signing.new_secret() != secret
    for size in (23, 65):
        with pytest.raises(ValueError):
            signing.new_secret(size)
    for bad in ("whsec_", "whsec_***"):
        with pytest.raises(ValueError):
            signing.secret_key(bad)
