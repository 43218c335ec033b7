"""Abuse limits: scanners, per-source rate, failed authentications, bans, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.sip.limits import (
    ADMIT,
    KNOWN_SCANNERS,
    AbuseLimits,
    Drop,
    DropReason,
    LimitsPolicy,
    source_key,
)


def limits(**policy: object) -> AbuseLimits:
    return AbuseLimits(LimitsPolicy(**policy))  # type: ignore[arg-type]


# -- scanners -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        "friendly-scanner",
        "Friendly-Scanner",
        "sipvicious 0.3.4",
        "sipcli/v1.8",
        "VaxSIPUserAgent/3.1",
        "VaxIPUserAgent/3.0",
        "pplsip",
        "sundayddr",
        "iWar",
        "SIVuS Discovery Tool",
        "Gulp/1.0",
        "sipv",
        "smap 0.6.0",
        "friendly-request",
        "VoIP SIP v11.0.0",
        "sip-scan",
        "SIPPTS",
    ],
)
def test_known_scanners_are_dropped_and_banned(agent: str) -> None:
    guard = limits(scanner_ban_s=3600)
    assert guard.admit("203.0.113.9", agent, now=0) == Drop(DropReason.SCANNER, 3600)
    # The ban holds whatever the next request claims to be.
    assert guard.admit("203.0.113.9", "Yealink SIP-T46S", now=10) == Drop(DropReason.BANNED, 3600)
    assert guard.admit("203.0.113.9", "Yealink SIP-T46S", now=3600) == ADMIT


@pytest.mark.parametrize(
    "agent",
    [
        None,
        "",
        "baresip v3.10.0 (x86_64/linux)",
        "Yealink SIP-T46S 66.86.0.15",
        "Grandstream GXP2170 1.0.11.23",
        "Linphone/5.2 (belle-sip/5.2)",
        "sipsak 0.9.8",  # an operator's tool, left out on purpose
        "Zoiper rv2.10.19.6",
        "MicroSIP/3.21.3",
        "Asterisk PBX 20.5.0",
        "mysmapp 1.0",  # `smap` only as a word
        "SIPVoice 2.0",  # not `sipv`
    ],
)
def test_ordinary_phones_pass(agent: str | None) -> None:
    assert limits().admit("198.51.100.4", agent, now=0) == ADMIT


def test_the_list_covers_the_brief() -> None:
    for name in ("friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "pplsip"):
        assert name in KNOWN_SCANNERS


def test_scanner_list_can_be_replaced() -> None:
    guard = limits(scanners=("evil-ua",))
    assert guard.admit("192.0.2.1", "friendly-scanner", now=0) == ADMIT
    assert isinstance(guard.admit("192.0.2.2", "Evil-UA/2", now=0), Drop)
    assert limits(scanners=()).admit("192.0.2.1", "friendly-scanner", now=0) == ADMIT


# -- rate ---------------------------------------------------------------------------------------


def test_burst_then_sustained_rate_then_ban() -> None:
    guard = limits(rate_per_s=10, burst=5, rate_ban_s=30)
    assert [guard.admit("192.0.2.7", None, now=0) for _ in range(5)] == [ADMIT] * 5
    assert guard.admit("192.0.2.7", None, now=0) == Drop(DropReason.RATE, 30)
    assert guard.admit("192.0.2.7", None, now=29.9) == Drop(DropReason.BANNED, 30)
    assert guard.admit("192.0.2.8", None, now=0) == ADMIT  # other sources unaffected
    assert guard.admit("192.0.2.7", None, now=30) == ADMIT  # a fresh bucket after the ban


def test_refill_at_the_sustained_rate() -> None:
    guard = limits(rate_per_s=10, burst=1, rate_ban_s=0)
    t = 0.0
    for _ in range(100):  # exactly 10 per second forever is fine
        assert guard.admit("192.0.2.7", None, now=t) == ADMIT
        t += 0.1
    dropped = guard.admit("192.0.2.7", None, now=t - 0.05)
    assert isinstance(dropped, Drop)
    assert dropped.reason is DropReason.RATE
    assert dropped.until == pytest.approx(t)


def test_clock_stepping_back_refills_nothing() -> None:
    guard = limits(rate_per_s=1, burst=1, rate_ban_s=0)
    assert guard.admit("192.0.2.7", None, now=100) == ADMIT
    assert isinstance(guard.admit("192.0.2.7", None, now=50), Drop)


def test_trusted_trunks_are_never_limited() -> None:
    guard = limits(rate_per_s=1, burst=1, trusted=("192.0.2.0/24", "2001:db8::1"))
    for _ in range(50):
        assert guard.admit("192.0.2.200", "friendly-scanner", now=0) == ADMIT
        assert guard.admit("2001:db8::1", None, now=0) == ADMIT
        assert guard.auth_failed("192.0.2.200", now=0) is None
    assert guard.tracked_sources == 0
    assert guard.admit("192.0.3.1", None, now=0) == ADMIT
    assert isinstance(guard.admit("192.0.3.1", None, now=0), Drop)


# -- failed authentication ----------------------------------------------------------------------


def test_failed_authentications_ban_the_source() -> None:
    guard = limits(max_auth_failures=3, auth_window_s=60, auth_ban_s=900)
    assert guard.auth_failed("192.0.2.9", now=0) is None
    assert guard.auth_failed("192.0.2.9", now=1) is None
    assert guard.auth_failed("192.0.2.9", now=2) == Drop(DropReason.AUTH_FAILURES, 902)
    assert guard.admit("192.0.2.9", "Yealink", now=500) == Drop(DropReason.BANNED, 902)
    assert guard.admit("192.0.2.9", "Yealink", now=902) == ADMIT


def test_only_failures_within_the_window_count() -> None:
    guard = limits(max_auth_failures=3, auth_window_s=60)
    # One failure every 30 s never has three within 60 s.
    assert all(guard.auth_failed("192.0.2.9", now=30.0 * i) is None for i in range(20))
    assert guard.auth_failed("192.0.2.9", now=30.0 * 19 + 1) == Drop(
        DropReason.AUTH_FAILURES, 30.0 * 19 + 1 + 900
    )


def test_ipv6_counts_per_64() -> None:
    guard = limits(max_auth_failures=2)
    assert guard.auth_failed("2001:db8:1:2::a", now=0) is None
    assert isinstance(guard.auth_failed("2001:db8:1:2:ffff::b", now=0), Drop)
    assert isinstance(guard.admit("2001:db8:1:2::c", None, now=1), Drop)
    assert guard.admit("2001:db8:1:3::a", None, now=1) == ADMIT


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_source_key(address: str, key: str) -> None:
    assert source_key(address) == key


# -- memory ------------------------------------------------------------------------------------


def test_idle_sources_are_forgotten_as_new_ones_arrive() -> None:
    guard = limits(rate_per_s=10, burst=10, auth_window_s=60)
    for i in range(100):
        guard.admit(f"10.0.0.{i}", None, now=0)
    assert guard.tracked_sources == 100
    for i in range(60):
        guard.admit(f"10.0.1.{i}", None, now=61)  # each newcomer evicts up to two idle ones
    assert guard.tracked_sources == 60  # the first 50 newcomers took out all 100 idle ones
    guard.sweep(now=200)
    assert guard.tracked_sources == 0


def test_sweep_ends_bans() -> None:
    guard = limits(scanner_ban_s=10)
    guard.admit("192.0.2.1", "sipvicious", now=0)
    assert guard.banned_sources == 1
    guard.sweep(now=10)
    assert guard.banned_sources == 0


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        LimitsPolicy(rate_per_s=0)
    with pytest.raises(ValueError):
        LimitsPolicy(max_sources=0)


addresses = st.builds(
    lambda a, b: f"10.{a}.{b // 256}.{b % 256}",
    st.integers(0, 255),
    st.integers(0, 65535),
)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            addresses,
            st.sampled_from([None, "Yealink", "friendly-scanner"]),
            st.floats(0, 5),
            st.booleans(),
        ),
        min_size=1,
        max_size=400,
    )
)
def test_memory_stays_bounded_under_many_sources(
    steps: list[tuple[str, str | None, float, bool]],
) -> None:
    guard = limits(max_sources=50, max_bans=20, rate_per_s=5, burst=3, max_auth_failures=2)
    now = 0.0
    for address, agent, dt, failed in steps:
        now += dt
        decision = guard.admit(address, agent, now)
        if decision == ADMIT and failed:
            guard.auth_failed(address, now)
        assert guard.tracked_sources <= 50
        assert guard.banned_sources <= 20
        if agent == "friendly-scanner":
            assert isinstance(decision, Drop)


def test_a_flood_of_distinct_sources_keeps_the_tables_at_their_caps() -> None:
    guard = limits(max_sources=1000, max_bans=100)
    for i in range(20_000):
        guard.admit(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", None, now=i * 0.001)
        guard.admit(f"172.16.{i // 256 % 256}.{i % 256}", "sipvicious", now=i * 0.001)
    assert guard.tracked_sources == 1000
    assert guard.banned_sources == 100
