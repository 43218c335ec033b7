"""The registrar, step by step through RFC 3261 section 10.3, with time as an input."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.sip.registrar import (
    ContactSpec,
    PhonePresenceChanged,
    RegisterReply,
    RegisterRequest,
    Registrar,
    RegistrarPolicy,
    SipAccount,
    account_username,
)

ALICE = SipAccount(tenant_id="ten_1", agent_id="alice")
BOB = SipAccount(tenant_id="ten_1", agent_id="bob_smith")  # ids may hold '_'
ACCOUNTS = {a.username: a for a in (ALICE, BOB)}
DOMAIN = "pbx.example"


def make_registrar(**policy: object) -> Registrar:
    defaults: dict[str, object] = {"domains": frozenset({DOMAIN})}
    return Registrar(RegistrarPolicy(**{**defaults, **policy}), ACCOUNTS.get)  # type: ignore[arg-type]


def req(
    *contacts: str | ContactSpec,
    user: str = ALICE.username,
    call_id: str = "call-1",
    cseq: int = 1,
    **fields: object,
) -> RegisterRequest:
    specs = tuple(c if isinstance(c, ContactSpec) else ContactSpec(uri=c) for c in contacts)
    base = RegisterRequest(
        username=user,
        request_host=DOMAIN,
        aor_user=user,
        aor_host=DOMAIN,
        call_id=call_id,
        cseq=cseq,
        contacts=specs,
        source="udp:198.51.100.7:5060",
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def contacts_of(reply: RegisterReply) -> list[str]:
    return [value for name, value in reply.headers if name == "Contact"]


ONLINE = PhonePresenceChanged(tenant_id="ten_1", agent_id="alice", online=True)
OFFLINE = PhonePresenceChanged(tenant_id="ten_1", agent_id="alice", online=False)
PHONE = "sip:alice@192.0.2.10:5060"
SOFTPHONE = "sip:alice@192.0.2.11:5062;transport=tcp"


def test_account_user_name_is_project_then_user() -> None:
    assert account_username("ten_1", "bob_smith") == "ten_1_bob_smith" == BOB.username


# -- steps 1 to 5: who may register what -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status", "headers"),
    [
        ({"request_host": "elsewhere.example"}, 404, ()),  # step 1: not our domain
        ({"require": ("gruu",)}, 420, (("Unsupported", "gruu"),)),  # step 2
        ({"require": ("path", "outbound")}, 420, (("Unsupported", "path, outbound"),)),
        ({"aor_user": BOB.username}, 403, ()),  # step 4: alice may not register bob
        ({"aor_user": "ten_1_nobody"}, 403, ()),  # same answer whether it exists or not
        ({"aor_user": None}, 403, ()),
        ({"aor_host": "elsewhere.example"}, 404, ()),  # step 5: AOR outside our domain
    ],
)
def test_requests_refused_before_any_binding_changes(
    changes: dict[str, object], status: int, headers: tuple[tuple[str, str], ...]
) -> None:
    registrar = make_registrar()
    reply = registrar.register(req(PHONE, **changes), now=0)
    assert (reply.status, reply.headers, reply.events) == (status, headers, ())
    assert registrar.binding_count == 0


def test_an_authenticated_user_without_an_account_is_not_found() -> None:
    registrar = make_registrar()
    reply = registrar.register(req(PHONE, user="ten_1_ghost"), now=0)
    assert reply.status == 404


def test_supported_extension_passes_step_2_and_any_domain_when_none_configured() -> None:
    registrar = make_registrar(domains=frozenset(), supported=frozenset({"path"}))
    reply = registrar.register(req(PHONE, require=("Path",), request_host="10.0.0.1"), now=0)
    assert reply.status == 200


# -- step 6: the wildcard -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"wildcard": True, "expires": None}, 400),  # `*` needs Expires: 0
        ({"wildcard": True, "expires": "3600"}, 400),
        ({"wildcard": True, "expires": "zero"}, 400),
        ({"wildcard": True, "expires": "0", "contacts": (ContactSpec(uri=PHONE),)}, 400),
        ({"wildcard": True, "expires": "0"}, 200),
    ],
)
def test_wildcard_rules(changes: dict[str, object], status: int) -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE, call_id="boot-1", cseq=5), now=0)
    reply = registrar.register(req(call_id="other", cseq=1, **changes), now=1)
    assert reply.status == status
    assert registrar.binding_count == (0 if status == 200 else 1)
    assert reply.events == ((OFFLINE,) if status == 200 else ())


def test_wildcard_with_the_same_call_id_needs_a_higher_cseq() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE, call_id="c", cseq=5), now=0)
    stale = registrar.register(req(call_id="c", cseq=5, wildcard=True, expires="0"), now=1)
    assert stale.status == 400 and registrar.binding_count == 1
    fresh = registrar.register(req(call_id="c", cseq=6, wildcard=True, expires="0"), now=1)
    assert (fresh.status, fresh.headers, fresh.events) == (200, (), (OFFLINE,))


# -- step 7: intervals and ordering -------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact_expires", "expires_header", "granted"),
    [
        (None, None, 3600),  # neither: the default
        (None, "120", 120),  # the Expires header
        ("300", "120", 300),  # the contact's param wins over the header
        ("60", None, 60),  # exactly the minimum
        ("86400", None, 3600),  # above the maximum: shortened
        ("99999999999999999999", None, 3600),
        ("soon", None, 3600),  # malformed: the default (RFC 3261 section 20.10)
        (None, "-5", 3600),
    ],
)
def test_granted_interval(
    contact_expires: str | None, expires_header: str | None, granted: int
) -> None:
    registrar = make_registrar()
    reply = registrar.register(
        req(ContactSpec(uri=PHONE, expires=contact_expires), expires=expires_header), now=1000
    )
    assert (reply.status, contacts_of(reply)) == (200, [f"<{PHONE}>;expires={granted}"])
    (binding,) = registrar.bindings(ALICE.username, now=1000)
    assert binding.expires_at - 1000 == granted


@pytest.mark.parametrize("asked", ["1", "59"])
def test_interval_too_brief(asked: str) -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE), now=0)
    reply = registrar.register(
        req(ContactSpec(uri=SOFTPHONE), ContactSpec(uri=PHONE, expires=asked), cseq=2), now=1
    )
    assert (reply.status, reply.headers) == (423, (("Min-Expires", "60"),))
    assert [b.contact for b in registrar.bindings(ALICE.username, now=1)] == [PHONE]  # untouched


def test_first_binding_brings_the_agent_online_and_refresh_does_not_repeat_it() -> None:
    registrar = make_registrar()
    first = registrar.register(req(PHONE, expires="600"), now=0)
    assert first.events == (ONLINE,)
    assert registrar.is_online(ALICE.username, now=0)
    refresh = registrar.register(req(PHONE, cseq=2, expires="600"), now=300)
    assert refresh.events == ()
    assert contacts_of(refresh) == [f"<{PHONE}>;expires=600"]
    assert registrar.bindings(ALICE.username, now=300)[0].expires_at == 900


def test_same_call_id_needs_a_higher_cseq_and_the_whole_request_aborts() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE, cseq=7, expires="600"), now=0)
    for cseq in (7, 3):  # a repeat and an older one (RFC 3261 section 10.3 step 7)
        reply = registrar.register(req(SOFTPHONE, PHONE, cseq=cseq, expires="0"), now=10)
        assert reply.status == 400
        assert [b.contact for b in registrar.bindings(ALICE.username, now=10)] == [PHONE]


def test_another_call_id_updates_whatever_its_cseq() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE, call_id="before-reboot", cseq=90, expires="600"), now=0)
    reply = registrar.register(req(PHONE, call_id="after-reboot", cseq=1, expires="120"), now=5)
    assert contacts_of(reply) == [f"<{PHONE}>;expires=120"]
    assert registrar.bindings(ALICE.username, now=5)[0].call_id == "after-reboot"


def test_contacts_compare_by_uri_identity_not_spelling() -> None:
    registrar = make_registrar()
    registrar.register(req("sip:alice@PHONE.example:5060", expires="600"), now=0)
    reply = registrar.register(req("sip:alice@phone.example:5060", cseq=2, expires="0"), now=1)
    assert (reply.status, reply.headers, reply.events) == (200, (), (OFFLINE,))


def test_removing_one_of_two_contacts_keeps_the_agent_online() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE, SOFTPHONE), now=0)
    reply = registrar.register(req(ContactSpec(uri=PHONE, expires="0"), cseq=2), now=1)
    assert reply.events == ()
    assert contacts_of(reply) == [f"<{SOFTPHONE}>;expires=3599"]


def test_unregistering_an_unknown_contact_is_a_no_op_success() -> None:
    registrar = make_registrar()
    reply = registrar.register(req(ContactSpec(uri=PHONE, expires="0")), now=0)
    assert (reply.status, reply.headers, reply.events) == (200, (), ())


def test_duplicate_contact_in_one_request_is_one_binding() -> None:
    registrar = make_registrar()
    reply = registrar.register(req(PHONE, PHONE), now=0)
    assert contacts_of(reply) == [f"<{PHONE}>;expires=3600"]


@pytest.mark.parametrize("q", ["2", "0.1234", "abc", "-1", "1.5"])
def test_bad_q_is_a_bad_request(q: str) -> None:
    registrar = make_registrar()
    assert registrar.register(req(ContactSpec(uri=PHONE, q=q)), now=0).status == 400
    assert registrar.binding_count == 0


def test_bindings_ordered_by_q_then_newest() -> None:
    registrar = make_registrar()
    registrar.register(req(ContactSpec(uri=PHONE, q="0.5")), now=0)
    registrar.register(req(ContactSpec(uri=SOFTPHONE), call_id="c2"), now=1)
    third = "sip:alice@192.0.2.12"
    reply = registrar.register(req(ContactSpec(uri=third, q="1.0"), call_id="c3"), now=2)
    assert contacts_of(reply) == [
        f"<{third}>;expires=3600;q=1",
        f"<{SOFTPHONE}>;expires=3599",
        f"<{PHONE}>;expires=3598;q=0.5",
    ]


def test_too_many_contacts_evicts_the_oldest() -> None:
    registrar = make_registrar(max_contacts=2)
    for i in range(4):
        registrar.register(req(f"sip:alice@192.0.2.{i}", call_id=f"boot-{i}"), now=i)
    assert [b.contact for b in registrar.bindings(ALICE.username, now=4)] == [
        "sip:alice@192.0.2.3",
        "sip:alice@192.0.2.2",
    ]


# -- step 8 and time ---------------------------------------------------------------------------


def test_query_without_contacts_lists_the_bindings_with_remaining_time() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE, expires="600"), now=0)
    reply = registrar.register(req(cseq=2), now=100.4)
    assert (reply.status, contacts_of(reply), reply.events) == (200, [f"<{PHONE}>;expires=500"], ())


def test_expiry_sweep_takes_the_agent_offline_once() -> None:
    registrar = make_registrar()
    registrar.register(req(ContactSpec(uri=PHONE, expires="100")), now=0)
    registrar.register(req(ContactSpec(uri=SOFTPHONE, expires="200"), cseq=2), now=0)
    assert registrar.next_expiry() == 100
    assert registrar.sweep(now=99) == ()
    assert registrar.sweep(now=100) == ()  # one contact left
    assert registrar.is_online(ALICE.username, now=150)
    assert registrar.sweep(now=250) == (OFFLINE,)
    assert registrar.sweep(now=300) == ()
    assert not registrar.is_online(ALICE.username, now=300)
    assert registrar.binding_count == 0


def test_refreshed_binding_outlives_its_old_expiry() -> None:
    registrar = make_registrar()
    registrar.register(req(ContactSpec(uri=PHONE, expires="100")), now=0)
    registrar.register(req(ContactSpec(uri=PHONE, expires="100"), cseq=2), now=90)
    assert registrar.sweep(now=150) == ()
    assert registrar.is_online(ALICE.username, now=150)
    assert registrar.sweep(now=190) == (OFFLINE,)


def test_expired_bindings_do_not_count_before_the_sweep_runs() -> None:
    registrar = make_registrar()
    registrar.register(req(ContactSpec(uri=PHONE, expires="60")), now=0)
    assert registrar.bindings(ALICE.username, now=61) == ()
    reply = registrar.register(req(SOFTPHONE, call_id="new"), now=61)
    assert reply.events == ()  # announced online, still online: nothing to tell
    assert registrar.sweep(now=61) == ()
    assert registrar.sweep(now=61 + 3600) == (OFFLINE,)


def test_a_query_after_the_last_expiry_announces_offline() -> None:
    registrar = make_registrar()
    registrar.register(req(ContactSpec(uri=PHONE, expires="60")), now=0)
    reply = registrar.register(req(cseq=2), now=61)
    assert (reply.status, reply.headers, reply.events) == (200, (), (OFFLINE,))
    assert registrar.sweep(now=61) == ()


def test_remove_account_takes_the_agent_offline() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE), now=0)
    assert registrar.remove_account(ALICE.username) == (OFFLINE,)
    assert registrar.remove_account(ALICE.username) == ()
    assert registrar.sweep(now=10_000) == ()


def test_presence_is_per_agent() -> None:
    registrar = make_registrar()
    registrar.register(req(PHONE), now=0)
    reply = registrar.register(req("sip:bob@192.0.2.20", user=BOB.username), now=0)
    assert reply.events == (
        PhonePresenceChanged(tenant_id="ten_1", agent_id="bob_smith", online=True),
    )


def test_expiry_heap_stays_compact_under_refreshes() -> None:
    registrar = make_registrar()
    for i in range(2000):
        registrar.register(req(PHONE, cseq=i + 1), now=i)
    assert len(registrar._expiry) <= 4 * registrar.binding_count + 64


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RegistrarPolicy(min_expires=600, default_expires=60)
    with pytest.raises(ValueError):
        RegistrarPolicy(max_contacts=0)


step = st.tuples(
    st.sampled_from(["register", "register", "register", "sweep", "remove"]),
    st.sampled_from([ALICE, BOB]),
    st.integers(0, 3),  # which contact
    st.sampled_from([None, "0", "60", "90", "3600"]),
    st.integers(0, 2),  # which Call-ID
    st.integers(-1, 3),  # CSeq step (<= 0: a repeat or an older one)
    st.floats(0, 100),  # time passing
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, max_size=60))
def test_presence_events_track_the_bindings_through_any_sequence(
    steps: list[tuple[str, SipAccount, int, str | None, int, int, float]],
) -> None:
    registrar = make_registrar(max_contacts=3)
    announced = {ALICE.agent_id: False, BOB.agent_id: False}
    cseq = {ALICE.username: 10, BOB.username: 10}
    now = 0.0

    def heard(events: tuple[PhonePresenceChanged, ...]) -> None:
        for event in events:
            assert event.online != announced[event.agent_id]  # every event is a change
            announced[event.agent_id] = event.online

    for op, account, contact, expires, call, cseq_step, dt in steps:
        now += dt
        user = account.username
        if op == "register":
            cseq[user] += cseq_step
            reply = registrar.register(
                req(
                    ContactSpec(uri=f"sip:{account.agent_id}@192.0.2.{contact}", expires=expires),
                    user=user,
                    call_id=f"call-{call}",
                    cseq=cseq[user],
                ),
                now=now,
            )
            assert reply.status in (200, 400)
            heard(reply.events)
        elif op == "sweep":
            heard(registrar.sweep(now))
            for a in (ALICE, BOB):  # after a sweep, announced means live bindings
                assert announced[a.agent_id] == registrar.is_online(a.username, now)
        else:
            heard(registrar.remove_account(user))
            assert not announced[account.agent_id]
        assert registrar.binding_count == sum(len(b) for b in registrar._table.values())
        assert all(len(b) <= 3 for b in registrar._table.values())


def test_domains_and_option_tags_compare_case_insensitively() -> None:
    registrar = make_registrar(domains=frozenset({"PBX.Example"}), supported=frozenset({"Path"}))
    reply = registrar.register(
        req(PHONE, request_host="pbx.EXAMPLE", aor_host="Pbx.Example", require=("PATH",)), now=0
    )
    assert reply.status == 200
