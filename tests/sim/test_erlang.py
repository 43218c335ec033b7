"""Tests for helpline.sim.erlang: exact small cases, published examples, closed-form checks."""

import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import pytest

from helpline.sim.erlang import (
    QueueMetrics,
    agents_for_service_level,
    agents_for_service_level_erlang_a,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
)

# The classic example: 100 calls per 30 minutes, AHT 180 s, 14 agents, 20 s threshold.
EXAMPLE_RATE = 100 / 1800
EXAMPLE_AHT = 180.0


# --- independent reference implementations -------------------------------------------------


def exact_erlang_b(n: int, a: Fraction) -> Fraction:
    """B = (a^n / n!) / sum_{k<=n} a^k / k!, in exact arithmetic."""
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    """C = (a^n / n! * n / (n - a)) / (sum_{k<n} a^k / k! + a^n / n! * n / (n - a))."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def gamma_series(a: float, z: float) -> float:
    """S(a, z) = sum_{k>=0} z^k / ((a+1)...(a+k)); P(a, z) = e^-z z^a S / Gamma(a+1)."""
    total, term, k = 1.0, 1.0, 0
    while True:
        k += 1
        term *= z / (a + k)
        total += term
        if k > z - a and term < 1e-17 * total:
            return total


def log_regularized_lower_gamma(a: float, z: float) -> float:
    return -z + a * math.log(z) - math.lgamma(a + 1.0) + math.log(gamma_series(a, z))


def closed_form_erlang_a(
    rate: float, aht: float, n: int, patience: float, t: float
) -> tuple[float, float, float]:
    """P(wait), P(abandon), service level from Mandelbaum & Zeltyn's incomplete-gamma forms.

    x = n mu / theta, y = lambda / theta, A(x, y) = x e^y y^-x gamma(x, y) = S(x, y),
    P(W>0) = A E / (1 + (A - 1) E), P(Ab | W>0) = 1 / (rho A) + 1 - 1 / rho and
    P(served, W <= t | W>0) = x [P(x+1, y) - P(x+1, y e^{-theta t})] / (y P(x, y)).
    """
    theta, mu = 1.0 / patience, 1.0 / aht
    x, y, rho = n * mu / theta, rate / theta, rate / (n * mu)
    big_a = gamma_series(x, y)
    e1n = erlang_b(n, rate * aht)
    p_wait = big_a * e1n / (1.0 + (big_a - 1.0) * e1n)
    p_abandon = (1.0 / (rho * big_a) + 1.0 - 1.0 / rho) * p_wait
    log_p = log_regularized_lower_gamma(x, y)
    served_total = math.exp(log_regularized_lower_gamma(x + 1.0, y) - log_p)
    served_late = math.exp(log_regularized_lower_gamma(x + 1.0, y * math.exp(-theta * t)) - log_p)
    service_level = 1.0 - p_wait + p_wait * x / y * (served_total - served_late)
    return p_wait, p_abandon, service_level


def simpson(f: Callable[[float], float], hi: float, intervals: int = 20_000) -> float:
    h = hi / intervals
    total = f(0.0) + f(hi)
    for i in range(1, intervals):
        total += (4 if i % 2 else 2) * f(i * h)
    return total * h / 3.0


# --- Erlang B and C ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "load"),
    [(1, Fraction(1)), (5, Fraction(5, 2)), (10, Fraction(5)), (20, Fraction(15)), (30, 31)],
)
def test_erlang_b_matches_exact_fraction(servers: int, load: Fraction | int) -> None:
    expected = exact_erlang_b(servers, Fraction(load))
    assert erlang_b(servers, float(load)) == pytest.approx(float(expected), rel=1e-12)


def test_erlang_b_known_value_and_edges() -> None:
    assert erlang_b(10, 5.0) == pytest.approx(0.018384570337, rel=1e-10)
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(5, 0.0) == 0.0


@pytest.mark.parametrize(
    ("servers", "load"),
    [(2, Fraction(1)), (10, Fraction(8)), (14, Fraction(10)), (25, Fraction(49, 2))],
)
def test_erlang_c_matches_exact_fraction(servers: int, load: Fraction) -> None:
    expected = exact_erlang_c(servers, load)
    assert erlang_c(servers, float(load)) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize(("servers", "load"), [(10, 10.0), (10, 12.5)])
def test_erlang_c_is_one_when_overloaded(servers: int, load: float) -> None:
    assert erlang_c(servers, load) == 1.0


def test_erlang_c_textbook_example() -> None:
    m = erlang_c_metrics(EXAMPLE_RATE, EXAMPLE_AHT, 14, 20.0)
    assert round(m.p_wait, 4) == 0.1741
    assert round(m.service_level, 4) == 0.8884
    assert round(m.asa_s, 2) == 7.84
    assert m.avg_wait_s == m.asa_s
    assert m.p_abandon == 0.0
    assert m.occupancy == pytest.approx(10 / 14)
    assert m.threshold_s == 20.0
    assert m.service_level_of_answered == m.service_level


def test_erlang_c_unstable_raises_with_load_and_servers() -> None:
    with pytest.raises(ValueError, match=r"load 10 Erlangs >= 10 servers"):
        erlang_c_metrics(EXAMPLE_RATE, EXAMPLE_AHT, 10, 20.0)


@pytest.mark.parametrize("servers", [500, 2000])
def test_large_systems_are_numerically_stable(servers: int) -> None:
    load = 0.95 * servers
    values = [erlang_b(servers, load), erlang_c(servers, load)]
    m = erlang_c_metrics(load / EXAMPLE_AHT, EXAMPLE_AHT, servers, 20.0)
    a = erlang_a_metrics(load / EXAMPLE_AHT, EXAMPLE_AHT, servers, 20.0, 120.0)
    values += [m.p_wait, m.service_level, a.p_wait, a.service_level, a.p_abandon]
    for value in values:
        assert math.isfinite(value)
        assert 0.0 <= value <= 1.0
    assert math.isfinite(m.asa_s) and math.isfinite(a.asa_s) and math.isfinite(a.avg_wait_s)
    assert 0.0 < values[1] < 1.0
    assert erlang_b(servers, 0.5 * servers) < 1e-30  # tiny but no underflow issues


@pytest.mark.parametrize(("load", "servers"), [(10.0, range(11, 30)), (180.0, range(181, 220))])
def test_more_agents_wait_less(load: float, servers: range) -> None:
    rate = load / EXAMPLE_AHT
    c = [erlang_c_metrics(rate, EXAMPLE_AHT, n, 20.0) for n in servers]
    a = [erlang_a_metrics(rate, EXAMPLE_AHT, n, 20.0, 90.0) for n in servers]
    for seq in (c, a):
        assert all(x.p_wait > y.p_wait for x, y in itertools.pairwise(seq))
        assert all(x.service_level < y.service_level for x, y in itertools.pairwise(seq))


# --- Erlang A ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "aht", "servers", "threshold"),
    [(EXAMPLE_RATE, EXAMPLE_AHT, 14, 20.0), (100 / 60, 27.0, 50, 20.0), (2.0, 240.0, 500, 30.0)],
)
def test_erlang_a_tends_to_erlang_c_for_patient_callers(
    rate: float, aht: float, servers: int, threshold: float
) -> None:
    c = erlang_c_metrics(rate, aht, servers, threshold)
    a = erlang_a_metrics(rate, aht, servers, threshold, 1e9)
    for field in ("p_wait", "service_level", "asa_s", "avg_wait_s", "occupancy"):
        assert getattr(a, field) == pytest.approx(getattr(c, field), rel=1e-5), field
    assert a.p_abandon < 1e-6
    assert erlang_a_metrics(rate, aht, servers, threshold, math.inf) == c


@pytest.mark.parametrize(
    ("rate", "aht", "servers", "patience", "threshold"),
    [
        (100 / 60, 27.0, 50, 120.0, 20.0),  # stable, realistic
        (100 / 60, 27.0, 40, 120.0, 20.0),  # overloaded: load 45 > 40 agents
        (0.5, 200.0, 110, 60.0, 15.0),
        (1850 / 180, 180.0, 1800, 300.0, 30.0),  # large and overloaded
        (0.2, 60.0, 3, 10.0, 5.0),  # impatient callers, tiny team
    ],
)
def test_erlang_a_chain_matches_incomplete_gamma_closed_form(
    rate: float, aht: float, servers: int, patience: float, threshold: float
) -> None:
    m = erlang_a_metrics(rate, aht, servers, threshold, patience)
    p_wait, p_abandon, service_level = closed_form_erlang_a(rate, aht, servers, patience, threshold)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert m.p_abandon == pytest.approx(p_abandon, rel=1e-8)
    assert m.service_level == pytest.approx(service_level, rel=1e-9)
    # Little's law for the abandonment stream: P(Ab) = theta E[W].
    assert m.avg_wait_s == pytest.approx(m.p_abandon * patience, rel=1e-9)
    assert m.occupancy == pytest.approx(rate * aht * (1.0 - m.p_abandon) / servers, rel=1e-12)


@pytest.mark.parametrize(
    ("rate", "aht", "servers", "patience"),
    [(100 / 60, 27.0, 50, 120.0), (100 / 60, 27.0, 40, 120.0), (0.2, 60.0, 3, 10.0)],
)
def test_erlang_a_asa_matches_integrated_wait_density(
    rate: float, aht: float, servers: int, patience: float
) -> None:
    # Offered wait V given V>0 has density proportional to exp(lambda H(x) - n mu x).
    theta, service_rate = 1.0 / patience, servers / aht

    def density(x: float) -> float:
        return math.exp(rate * -math.expm1(-theta * x) / theta - service_rate * x)

    norm = simpson(density, 1000.0)
    waited_served = simpson(lambda x: x * math.exp(-theta * x) * density(x), 1000.0) / norm
    m = erlang_a_metrics(rate, aht, servers, 20.0, patience)
    assert m.asa_s == pytest.approx(m.p_wait * waited_served / (1.0 - m.p_abandon), rel=1e-8)


@pytest.mark.parametrize("servers", [30, 40, 44])
def test_erlang_a_overloaded_is_well_behaved(servers: int) -> None:
    m = erlang_a_metrics(100 / 60, 27.0, servers, 20.0, 120.0)
    assert 0.0 < m.p_abandon < 1.0
    assert 0.0 < m.service_level < 1.0 - m.p_abandon
    assert 0.0 < m.asa_s < m.avg_wait_s * 2 and math.isfinite(m.avg_wait_s)
    assert m.occupancy < 1.0
    assert m.service_level_of_answered == pytest.approx(m.service_level / (1 - m.p_abandon))


@pytest.mark.parametrize(("servers", "patience"), [(50, 120.0), (40, 120.0), (3, 10.0)])
def test_erlang_a_service_level_tends_to_answered_fraction(servers: int, patience: float) -> None:
    m = erlang_a_metrics(100 / 60, 27.0, servers, 1e6, patience)
    assert m.service_level == pytest.approx(1.0 - m.p_abandon, rel=1e-9)
    assert erlang_a_metrics(100 / 60, 27.0, servers, 0.0, patience).service_level == (
        pytest.approx(1.0 - m.p_wait, rel=1e-12)
    )


def test_erlang_a_zero_traffic() -> None:
    assert erlang_a_metrics(0.0, 27.0, 5, 20.0, 60.0) == QueueMetrics(
        0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 20.0
    )


# --- staffing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "aht", "threshold", "target"),
    [
        (EXAMPLE_RATE, EXAMPLE_AHT, 20.0, 0.8),
        (EXAMPLE_RATE, EXAMPLE_AHT, 20.0, 0.95),
        (100 / 60, 27.0, 20.0, 0.9),
        (10.0, 300.0, 15.0, 0.8),
    ],
)
def test_erlang_c_staffing_is_minimal(
    rate: float, aht: float, threshold: float, target: float
) -> None:
    n = agents_for_service_level(rate, aht, threshold, target)
    assert erlang_c_metrics(rate, aht, n, threshold).service_level >= target
    if n - 1 > rate * aht:
        assert erlang_c_metrics(rate, aht, n - 1, threshold).service_level < target


def test_erlang_c_staffing_for_textbook_example() -> None:
    assert agents_for_service_level(EXAMPLE_RATE, EXAMPLE_AHT, 20.0, 0.8) == 14


@pytest.mark.parametrize(
    ("rate", "aht", "threshold", "patience", "target"),
    [
        (EXAMPLE_RATE, EXAMPLE_AHT, 20.0, 120.0, 0.8),
        (100 / 60, 27.0, 20.0, 120.0, 0.9),
        (100 / 60, 27.0, 20.0, 30.0, 0.5),
        (10.0, 300.0, 15.0, 200.0, 0.8),
    ],
)
def test_erlang_a_staffing_is_minimal(
    rate: float, aht: float, threshold: float, patience: float, target: float
) -> None:
    n = agents_for_service_level_erlang_a(rate, aht, threshold, patience, target)
    assert erlang_a_metrics(rate, aht, n, threshold, patience).service_level >= target
    if n > 1:
        assert erlang_a_metrics(rate, aht, n - 1, threshold, patience).service_level < target
    assert n <= agents_for_service_level(rate, aht, threshold, target)


# --- input validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(-1, 1.0),
        lambda: erlang_b(3, -1.0),
        lambda: erlang_c(0, 1.0),
        lambda: erlang_c(3, math.nan),
        lambda: erlang_c_metrics(1.0, 0.0, 5, 20.0),
        lambda: erlang_c_metrics(0.01, 10.0, 5, -1.0),
        lambda: erlang_a_metrics(1.0, 10.0, 5, 20.0, 0.0),
        lambda: erlang_a_metrics(-1.0, 10.0, 5, 20.0, 60.0),
        lambda: agents_for_service_level(1.0, 10.0, 20.0, 1.0),
        lambda: agents_for_service_level_erlang_a(1.0, 10.0, 20.0, 60.0, 0.0),
    ],
)
def test_invalid_inputs_raise(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def test_reference_gamma_matches_scipy_when_available() -> None:
    special = pytest.importorskip("scipy.special")
    for a, z in [(222.2, 200.0), (177.8, 200.0), (3.5, 0.7)]:
        expected = math.log(float(special.gammainc(a, z)))
        assert log_regularized_lower_gamma(a, z) == pytest.approx(expected, rel=1e-10)
