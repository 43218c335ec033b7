"""REGISTER as bytes on the wire: digest challenge, answer, registration, the thin layer over
`Request` (`handle_register`, `register_request`, `reply_response`)."""

from __future__ import annotations

import pytest

from helpline.sip.auth import (
    AuthFailure,
    DigestAlgorithm,
    DigestAuthenticator,
    DigestPolicy,
    Unauthenticated,
    answer_challenge,
    compute_ha1,
)
from helpline.sip.errors import SipParseError
from helpline.sip.message import Request, Response, parse_message
from helpline.sip.registrar import (
    PhonePresenceChanged,
    RegisterReply,
    Registrar,
    RegistrarPolicy,
    SipAccount,
    handle_register,
    register_request,
)

REALM = "pbx.example"
ALICE = SipAccount(tenant_id="ten_7", agent_id="alice")
USER = ALICE.username  # ten_7_alice
PASSWORDS = {USER: "s3cret!"}


def lookup(username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
    password = PASSWORDS.get(username)
    return None if password is None else compute_ha1(algorithm, username, realm, password)


def register_bytes(
    *headers: str, cseq: int = 1, contact: str | None = "<sip:alice@192.0.2.10:5060>"
) -> bytes:
    lines = [
        f"REGISTER sip:{REALM} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-reg-" + str(cseq),
        "Max-Forwards: 70",
        f"From: <sip:{USER}@{REALM}>;tag=f1",
        f"To: <sip:{USER}@{REALM}>",
        "Call-ID: reg-call-1@192.0.2.10",
        f"CSeq: {cseq} REGISTER",
        "User-Agent: baresip v3.10.0",
        *([f"Contact: {contact}"] if contact is not None else []),
        *headers,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


class Server:
    def __init__(self) -> None:
        self.registrar = Registrar(RegistrarPolicy(domains=frozenset({REALM})), _accounts)
        self.auth = DigestAuthenticator(DigestPolicy(realm=REALM, secret=b"k" * 32))
        self.challenges = 0  # each challenge its own entropy, so its own nonce

    def handle(
        self, data: bytes, now: float = 0.0
    ) -> tuple[Response, RegisterReply | Unauthenticated]:
        return handle_register(
            request(data),
            registrar=self.registrar,
            authenticator=self.auth,
            lookup=lookup,
            source="udp:192.0.2.10:5060",
            now=now,
            entropy=self.challenges.to_bytes(12, "big"),
            to_tag="t0",
        )

    def authorized(
        self,
        *headers: str,
        cseq: int = 2,
        password: str = "s3cret!",
        user: str = USER,
        contact: str | None = "<sip:alice@192.0.2.10:5060>",
        now: float = 0.0,
    ) -> bytes:
        self.challenges += 1
        challenge, _ = self.handle(register_bytes(cseq=cseq - 1), now)
        value = answer_challenge(
            challenge.headers.get_all("WWW-Authenticate")[0],
            username=user,
            password=password,
            method="REGISTER",
            uri=f"sip:{REALM}",
            cnonce=f"cn{cseq}",
            nc=1,
        )
        return register_bytes(f"Authorization: {value}", *headers, cseq=cseq, contact=contact)


def _accounts(username: str) -> SipAccount | None:
    return ALICE if username == USER else None


def test_unauthenticated_register_is_challenged_with_both_algorithms() -> None:
    server = Server()
    response, outcome = server.handle(register_bytes())
    assert (response.status, response.reason) == (401, "Unauthorized")
    assert outcome == Unauthenticated(AuthFailure.MISSING)
    challenges = response.headers.get_all("WWW-Authenticate")
    assert [c.split("algorithm=")[1].split(",")[0] for c in challenges] == ["MD5", "SHA-256"]
    assert response.to.tag == "t0"
    assert response.call_id == "reg-call-1@192.0.2.10"
    assert parse_message(response.serialize()).status == 401  # type: ignore[union-attr]


def test_answered_challenge_registers_and_brings_the_agent_online() -> None:
    server = Server()
    response, reply = server.handle(server.authorized("Expires: 600"))
    assert response.status == 200
    assert response.headers.get_all("Contact") == ["<sip:alice@192.0.2.10:5060>;expires=600"]
    assert isinstance(reply, RegisterReply)
    assert reply.events == (PhonePresenceChanged(tenant_id="ten_7", agent_id="alice", online=True),)
    (binding,) = server.registrar.bindings(USER, now=1)
    assert (binding.source, binding.user_agent) == ("udp:192.0.2.10:5060", "baresip v3.10.0")


def test_wrong_password_and_unknown_user_get_byte_identical_answers() -> None:
    server = Server()
    guessed = server.authorized(password="guess", cseq=2)
    probed = server.authorized(user="ten_7_nobody", cseq=2)
    server.challenges = 99  # the fresh challenges in both answers from the same entropy
    wrong_password, why_1 = server.handle(guessed)
    unknown_user, why_2 = server.handle(probed)
    assert why_1 == why_2 == Unauthenticated(AuthFailure.FAILED)
    assert wrong_password.serialize() == unknown_user.serialize()
    assert wrong_password.status == 401


def test_compact_contact_and_wildcard_unregister() -> None:
    server = Server()
    compact = server.authorized("m: <sip:alice@192.0.2.10:5060>", contact=None)
    first, _ = server.handle(compact)
    assert first.status == 200
    response, reply = server.handle(server.authorized("Expires: 0", cseq=4, contact="*"))
    assert response.status == 200
    assert response.headers.get_all("Contact") == []
    assert isinstance(reply, RegisterReply) and reply.events[0].online is False


@pytest.mark.parametrize(
    ("headers", "contact", "status", "extra"),
    [
        (("Expires: 10",), "<sip:alice@192.0.2.10>", 423, ("Min-Expires", "60")),
        (("Require: gruu",), "<sip:alice@192.0.2.10>", 420, ("Unsupported", "gruu")),
        ((), "<tel:+15550100>", 400, None),
        ((), "*", 400, None),  # `*` without Expires: 0
    ],
)
def test_refusals_as_responses(
    headers: tuple[str, ...], contact: str, status: int, extra: tuple[str, str] | None
) -> None:
    server = Server()
    response, _ = server.handle(server.authorized(*headers, contact=contact))
    assert response.status == status
    assert response.to.tag == "t0"
    if extra is not None:
        assert response.headers.get(extra[0]) == extra[1]
    assert server.registrar.binding_count == 0


def test_register_request_reads_the_fields() -> None:
    data = register_bytes(
        "Expires: 300",
        "Require: path, outbound",
        contact='"Desk" <sip:alice@192.0.2.10;transport=tcp>;expires=120;q=0.7, '
        "<sip:alice@192.0.2.11>",
    )
    parsed = register_request(request(data), username=USER, source="tcp:192.0.2.10:40000")
    assert (parsed.aor_user, parsed.aor_host, parsed.request_host) == (USER, REALM, REALM)
    assert (parsed.call_id, parsed.cseq, parsed.expires) == ("reg-call-1@192.0.2.10", 1, "300")
    assert parsed.require == ("path", "outbound")
    assert [(c.uri, c.expires, c.q) for c in parsed.contacts] == [
        ("sip:alice@192.0.2.10;transport=tcp", "120", "0.7"),
        ("sip:alice@192.0.2.11", None, None),
    ]
    assert not parsed.wildcard


def test_register_request_with_an_escaped_user_in_to() -> None:
    data = register_bytes().replace(f"To: <sip:{USER}@".encode(), b"To: <sip:ten%5F7_alice@")
    assert register_request(request(data), username=USER, source="").aor_user == USER


def test_register_request_refuses_a_non_sip_contact() -> None:
    with pytest.raises(SipParseError):
        register_request(
            request(register_bytes(contact="<mailto:a@b.example>")), username=USER, source=""
        )
