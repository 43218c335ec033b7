"""Digest authentication: RFC 7616 section 3.9.1 vectors, the header grammar, stateless nonces,
stale and replay handling, and one answer for an unknown user and a wrong password."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from helpline.sip import auth
from helpline.sip.auth import (
    Authenticated,
    AuthFailure,
    DigestAlgorithm,
    DigestAuthenticator,
    DigestParseError,
    DigestPolicy,
    Unauthenticated,
    answer_challenge,
    compute_ha1,
    compute_response,
    make_nonce,
    nonce_issued_at,
    parse_auth_params,
    parse_credentials,
    stored_ha1s,
)

MD5, SHA256 = DigestAlgorithm.MD5, DigestAlgorithm.SHA256

# -- RFC 7616 section 3.9.1 -------------------------------------------------------------------

RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def rfc_authorization(algorithm: str, response: str) -> str:
    # As printed in the RFC, folded lines unfolded to single spaces by the message parser.
    return (
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        f'algorithm={algorithm}, nonce="{RFC_NONCE}", nc=00000001, cnonce="{RFC_CNONCE}", '
        f'qop=auth, response="{response}", opaque="{RFC_OPAQUE}"'
    )


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        (MD5, "8ca523f5e9506fed4657c9700eebdbec"),
        (SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_example(algorithm: DigestAlgorithm, response: str) -> None:
    credentials = parse_credentials(rfc_authorization(algorithm.value, response))
    assert credentials.algorithm is algorithm
    assert credentials.username == "Mufasa"
    assert credentials.extra == {"opaque": RFC_OPAQUE}
    ha1 = compute_ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
    expected = compute_response(
        algorithm,
        ha1,
        credentials.nonce,
        credentials.nc,
        credentials.cnonce,
        "GET",
        "/dir/index.html",
    )
    assert expected == response == credentials.response


def test_stored_ha1s_are_per_algorithm_and_realm() -> None:
    stored = stored_ha1s("Mufasa", "http-auth@example.org", "Circle of Life")
    assert set(stored) == {MD5, SHA256}
    assert stored[MD5] == compute_ha1(MD5, "Mufasa", "http-auth@example.org", "Circle of Life")
    assert len(stored[SHA256]) == 64 and "Circle" not in "".join(stored.values())
    assert stored_ha1s("Mufasa", "other-realm", "Circle of Life")[MD5] != stored[MD5]


def test_rfc7616_example_answered_by_the_client_side() -> None:
    challenge = (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
        f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"'
    )
    value = answer_challenge(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce=RFC_CNONCE,
        nc=1,
    )
    parsed = parse_credentials(value)
    assert parsed.response == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert parsed.extra == {"opaque": RFC_OPAQUE}


# -- grammar --------------------------------------------------------------------------------


def test_params_in_any_order_with_escapes_unknown_params_and_odd_spacing() -> None:
    value = (
        'digest  NC=0000000A ,response="' + "a" * 32 + '",cnonce="c\\"n", '
        'uri="sip:a@b", vendor-x="1, 2", username="al\\\\ice" , realm="r", nonce="n",qop=auth'
    )
    c = parse_credentials(value)
    assert (c.username, c.cnonce, c.nc, c.uri) == ("al\\ice", 'c"n', "0000000a", "sip:a@b")
    assert c.algorithm is MD5  # absent algorithm means MD5 (RFC 7616 section 3.3)
    assert c.extra == {"vendor-x": "1, 2"}


def test_parse_auth_params_keeps_the_scheme_and_lowercases_names() -> None:
    scheme, params = parse_auth_params('Digest Realm="x", STALE=TRUE, qop="auth,auth-int"')
    assert scheme == "Digest"
    assert params == {"realm": "x", "stale": "TRUE", "qop": "auth,auth-int"}


GOOD = {
    "username": '"u"',
    "realm": '"r"',
    "nonce": '"n"',
    "uri": '"sip:r"',
    "response": '"' + "0" * 32 + '"',
    "cnonce": '"c"',
    "nc": "00000001",
    "qop": "auth",
}


def value_with(**changes: str | None) -> str:
    params = {**GOOD, **changes}
    return "Digest " + ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("Basic dXNlcjpwYXNz", "scheme"),
        ("", "scheme"),
        (value_with(username=None), "username"),
        (value_with(nonce='""'), "nonce"),
        (value_with(response=None), "response"),
        (value_with(nc=None), "nc"),
        (value_with(cnonce=None), "cnonce"),
        (value_with(qop=None), "qop"),
        (value_with(qop="auth-int"), "qop"),
        (value_with(nc="1"), "nc"),
        (value_with(nc="0000000g"), "nc"),
        (value_with(response='"abc"'), "response"),
        (value_with(response='"' + "z" * 32 + '"'), "response"),
        (value_with(algorithm="SHA-256"), "response"),  # an MD5-length answer for SHA-256
        (value_with(algorithm="MD5-sess"), "algorithm"),
        (value_with(algorithm="SHA-512-256"), "algorithm"),
        (value_with(uri='"sip:r'), "uri"),  # unterminated quoted string
        (value_with(uri="sip:r"), "uri"),  # not a token: must be quoted
        (value_with() + ', realm="again"', "realm"),
        (value_with() + ", junk", "junk"),
        (value_with() + " trailing", "qop"),  # the last param runs into junk
    ],
)
def test_bad_authorization_values_name_the_field(value: str, field: str) -> None:
    with pytest.raises(DigestParseError) as caught:
        parse_credentials(value)
    assert caught.value.field == field


def test_sha256_algorithm_accepted_in_any_case() -> None:
    value = value_with(algorithm="sha-256", response='"' + "f" * 64 + '"')
    assert parse_credentials(value).algorithm is SHA256


# -- nonces ---------------------------------------------------------------------------------

SECRET = b"0123456789abcdef-secret"
ENTROPY = bytes(range(12))


def test_nonce_round_trip_and_tamper_detection() -> None:
    nonce = make_nonce(secret=SECRET, realm="r", now=1000.25, entropy=ENTROPY)
    assert nonce_issued_at(nonce, secret=SECRET, realm="r") == 1000.25
    assert nonce_issued_at(nonce, secret=b"another-secret-16b", realm="r") is None
    assert nonce_issued_at(nonce, secret=SECRET, realm="other") is None
    flipped = nonce[:-2] + ("A" if nonce[-2] != "A" else "B") + nonce[-1]
    assert nonce_issued_at(flipped, secret=SECRET, realm="r") is None
    for junk in ("", nonce[:-1], nonce + "A", "!" * len(nonce), "é" * len(nonce)):
        assert nonce_issued_at(junk, secret=SECRET, realm="r") is None


def test_nonces_differ_by_entropy_and_entropy_size_is_checked() -> None:
    a = make_nonce(secret=SECRET, realm="r", now=5, entropy=ENTROPY)
    b = make_nonce(secret=SECRET, realm="r", now=5, entropy=bytes(12))
    assert a != b
    with pytest.raises(ValueError, match="entropy"):
        make_nonce(secret=SECRET, realm="r", now=5, entropy=b"short")


# -- the authenticator ------------------------------------------------------------------------

REALM = "helpline.test"
URI = "sip:helpline.test"
ACCOUNTS = {"p1_alice": "correct horse"}


def lookup(username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
    password = ACCOUNTS.get(username)
    return None if password is None else compute_ha1(algorithm, username, realm, password)


def make_authenticator(**policy: object) -> DigestAuthenticator:
    policy = {"algorithms": (SHA256, MD5), **policy}
    return DigestAuthenticator(DigestPolicy(realm=REALM, secret=SECRET, **policy))  # type: ignore[arg-type]


def answer(
    authenticator: DigestAuthenticator,
    *,
    now: float,
    user: str = "p1_alice",
    password: str = "correct horse",
    nc: int = 1,
    which: int = 0,
    challenges: tuple[str, ...] = (),
) -> str:
    offered = challenges or authenticator.challenges(now=now, entropy=ENTROPY)
    return answer_challenge(
        offered[which],
        username=user,
        password=password,
        method="REGISTER",
        uri=URI,
        cnonce="cn",
        nc=nc,
    )


def verify(authenticator: DigestAuthenticator, values: list[str], now: float) -> object:
    return authenticator.verify(values, method="REGISTER", uri=URI, now=now, lookup=lookup)


def test_challenges_offer_sha256_then_md5_with_one_nonce() -> None:
    values = make_authenticator().challenges(now=10, entropy=ENTROPY)
    parsed = [parse_auth_params(v) for v in values]
    assert [p["algorithm"] for _, p in parsed] == ["SHA-256", "MD5"]
    assert {p["nonce"] for _, p in parsed} == {
        make_nonce(secret=SECRET, realm=REALM, now=10, entropy=ENTROPY)
    }
    assert all(s == "Digest" and p["qop"] == "auth" and p["realm"] == REALM for s, p in parsed)
    assert all("stale" not in p for _, p in parsed)
    stale = make_authenticator().challenges(now=10, entropy=ENTROPY, stale=True)
    assert all(parse_auth_params(v)[1]["stale"] == "true" for v in stale)


def test_default_policy_offers_md5_first_for_clients_that_take_the_first() -> None:
    values = DigestAuthenticator(DigestPolicy(realm=REALM, secret=SECRET)).challenges(
        now=0, entropy=ENTROPY
    )
    assert [parse_auth_params(v)[1]["algorithm"] for v in values] == ["MD5", "SHA-256"]


def test_policy_can_offer_md5_only() -> None:
    values = make_authenticator(algorithms=(MD5,)).challenges(now=0, entropy=ENTROPY)
    assert len(values) == 1 and "algorithm=MD5" in values[0]


@pytest.mark.parametrize("which", [0, 1])
def test_right_answer_authenticates_with_either_algorithm(which: int) -> None:
    a = make_authenticator()
    outcome = verify(a, [answer(a, now=100, which=which)], now=101)
    assert outcome == Authenticated("p1_alice", (SHA256, MD5)[which])


def test_unknown_user_and_wrong_password_get_the_same_answer_on_the_same_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[DigestAlgorithm] = []
    real = auth.compute_response

    def counting(*args: object) -> str:
        calls.append(args[0])  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    a = make_authenticator()
    wrong_password_value = answer(a, now=0, password="tr0ub4dor")
    unknown_user_value = answer(a, now=0, user="p1_mallory")
    monkeypatch.setattr(auth, "compute_response", counting)
    wrong_password = verify(a, [wrong_password_value], now=1)
    unknown_user = verify(a, [unknown_user_value], now=1)
    assert wrong_password == unknown_user == Unauthenticated(AuthFailure.FAILED)
    assert calls == [SHA256, SHA256]  # the missing account was hashed like the real one
    assert not wrong_password.reason.stale  # type: ignore[attr-defined]


def test_expired_nonce_with_the_right_answer_is_stale() -> None:
    a = make_authenticator(nonce_ttl_s=30)
    value = answer(a, now=0)
    assert verify(a, [value], now=30) == Authenticated("p1_alice", SHA256)
    late = answer(a, now=0, nc=2)
    outcome = verify(a, [late], now=31)
    assert outcome == Unauthenticated(AuthFailure.STALE)
    assert outcome.reason.stale  # type: ignore[attr-defined]


def test_expired_nonce_with_a_wrong_answer_is_a_failure_not_stale() -> None:
    a = make_authenticator(nonce_ttl_s=30)
    outcome = verify(a, [answer(a, now=0, password="guess")], now=300)
    assert outcome == Unauthenticated(AuthFailure.FAILED)


@pytest.mark.parametrize(
    "nonce",
    [
        "forged",
        make_nonce(secret=b"someone-elses-secret", realm=REALM, now=0, entropy=ENTROPY),
        make_nonce(secret=SECRET, realm=REALM, now=60, entropy=ENTROPY),  # from the future
    ],
)
def test_nonces_we_did_not_issue_are_refused(nonce: str) -> None:
    a = make_authenticator()
    challenge = f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth"'
    assert verify(a, [answer(a, now=0, challenges=(challenge,))], now=0) == Unauthenticated(
        AuthFailure.BAD_NONCE
    )


def test_nonce_count_replay_window() -> None:
    a = make_authenticator(nc_window=4)
    offered = a.challenges(now=0, entropy=ENTROPY)

    def at(nc: int) -> object:
        return verify(a, [answer(a, now=0, nc=nc, challenges=offered)], now=1)

    ok = Authenticated("p1_alice", SHA256)
    replay = Unauthenticated(AuthFailure.REPLAY)
    assert at(1) == ok
    assert at(1) == replay
    assert at(4) == ok
    assert at(3) == ok  # reordered in flight: accepted once
    assert at(3) == replay
    assert at(2) == ok
    assert at(10) == ok
    assert at(6) == replay  # fell out of the 4-wide window below 10
    assert at(7) == ok
    assert replay.reason.stale


def test_a_count_we_never_saw_start_asks_for_a_fresh_nonce() -> None:
    a = make_authenticator()
    assert verify(a, [answer(a, now=0, nc=5)], now=1) == Unauthenticated(AuthFailure.STALE)


def test_another_user_on_the_same_nonce_has_its_own_count() -> None:
    ACCOUNTS["p1_bob"] = "pw"
    try:
        a = make_authenticator()
        offered = a.challenges(now=0, entropy=ENTROPY)
        for user, password in (("p1_alice", "correct horse"), ("p1_bob", "pw")):
            value = answer(a, now=0, user=user, password=password, challenges=offered)
            assert verify(a, [value], now=1) == Authenticated(user, SHA256)
    finally:
        del ACCOUNTS["p1_bob"]


def test_tracked_nonces_are_bounded_and_expire() -> None:
    a = make_authenticator(max_tracked_nonces=3, nonce_ttl_s=10)
    for i in range(6):
        offered = a.challenges(now=i, entropy=bytes([i]) * 12)
        assert verify(a, [answer(a, now=i, challenges=offered)], now=i) == Authenticated(
            "p1_alice", SHA256
        )
        assert a.tracked_nonces <= 3
    offered = a.challenges(now=100, entropy=ENTROPY)
    verify(a, [answer(a, now=100, challenges=offered)], now=100)
    assert a.tracked_nonces == 1  # the expired ones left


def test_which_credentials_are_used() -> None:
    a = make_authenticator()
    good = answer(a, now=0)
    foreign = good.replace(f'realm="{REALM}"', 'realm="carrier.example"')
    assert verify(a, [], now=0) == Unauthenticated(AuthFailure.MISSING)
    assert verify(a, [foreign], now=0) == Unauthenticated(AuthFailure.WRONG_REALM)
    assert verify(a, [foreign, good], now=0) == Authenticated("p1_alice", SHA256)
    assert verify(a, ["Digest garbage"], now=0) == Unauthenticated(AuthFailure.MALFORMED)
    other_uri = a.verify([good], method="REGISTER", uri="sip:other", now=0, lookup=lookup)
    assert other_uri == Unauthenticated(AuthFailure.URI_MISMATCH)
    no_uri_check = a.verify(
        [answer(a, now=0, nc=2)], method="REGISTER", uri=None, now=0, lookup=lookup
    )
    assert no_uri_check == Authenticated("p1_alice", SHA256)
    md5_only = make_authenticator(algorithms=(MD5,))
    assert verify(md5_only, [good], now=0) == Unauthenticated(AuthFailure.MALFORMED)
    wrong_method = a.verify(
        [answer(a, now=0, nc=3)], method="INVITE", uri=URI, now=0, lookup=lookup
    )
    assert wrong_method == Unauthenticated(AuthFailure.FAILED)


@pytest.mark.parametrize(
    ("reason", "counts", "stale"),
    [
        (AuthFailure.MISSING, False, False),
        (AuthFailure.STALE, False, True),
        (AuthFailure.REPLAY, True, True),
        (AuthFailure.FAILED, True, False),
        (AuthFailure.BAD_NONCE, True, False),
        (AuthFailure.MALFORMED, True, False),
        (AuthFailure.WRONG_REALM, True, False),
        (AuthFailure.URI_MISMATCH, True, False),
    ],
)
def test_which_failures_count_and_which_are_stale(
    reason: AuthFailure, counts: bool, stale: bool
) -> None:
    assert (reason.counts_as_failure, reason.stale) == (counts, stale)


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="secret"):
        DigestPolicy(realm=REALM, secret=b"short")
    with pytest.raises(ValueError):
        DigestPolicy(realm=REALM, secret=SECRET, algorithms=())


def test_answer_challenge_refuses_what_it_cannot_answer() -> None:
    for challenge, field in [
        ('Basic realm="x"', "scheme"),
        ('Digest nonce="n", qop="auth"', "realm"),
        ('Digest realm="r", nonce="n"', "qop"),
        ('Digest realm="r", nonce="n", qop="auth-int"', "qop"),
        ('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-512-256', "algorithm"),
    ]:
        with pytest.raises(DigestParseError) as caught:
            answer_challenge(
                challenge, username="u", password="p", method="M", uri="u", cnonce="c", nc=1
            )
        assert caught.value.field == field


@pytest.mark.parametrize("module", ["auth", "registrar", "limits"])
def test_sans_io_modules_read_no_clock_and_draw_no_randomness(module: str) -> None:
    # the source beside the package, not the module's __file__ (compiled, that is the .so)
    package = importlib.import_module("helpline.sip").__file__
    assert package is not None
    source = Path(package).with_name(f"{module}.py")
    with open(source, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    forbidden = {"time", "datetime", "random", "secrets", "os", "socket", "asyncio", "uuid"}
    assert imported & forbidden == set()
