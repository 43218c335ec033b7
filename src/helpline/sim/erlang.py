"""Erlang B, C and A queueing formulas for validating the simulator and for staffing.

Units: times are seconds, rates are per second, ``servers`` is a number of agents.
The offered load ``a = arrival_rate * mean_service_s`` is measured in Erlangs.

Models
------
* Erlang B (M/M/n/n): blocking probability, via the classical stable recursion
  ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` (no factorials, no ``a**n``).
* Erlang C (M/M/n): probability of waiting, from Erlang B as
  ``C = B / (1 - rho (1 - B))`` with ``rho = a / n``; service level
  ``1 - C exp(-(n mu - lambda) t)`` and ASA ``C / (n mu - lambda)``.
* Erlang A (M/M/n+M, exponential patience with rate ``theta``; Palm's model), see
  Garnett, Mandelbaum & Reiman, "Designing a call center with impatient customers",
  MSOM 4(3), 2002, and Mandelbaum & Zeltyn, "The M/M/n+G queue: summary of performance
  measures". Evaluated exactly from the birth-death chain (birth rate ``lambda``, death
  rate ``min(k, n) mu + max(k - n, 0) theta`` in state ``k``) in log space; the
  incomplete-gamma closed forms of Mandelbaum & Zeltyn serve as cross-checks in the tests.
"""

import math
from dataclasses import dataclass

__all__ = [
    "QueueMetrics",
    "agents_for_service_level",
    "agents_for_service_level_erlang_a",
    "erlang_a_metrics",
    "erlang_b",
    "erlang_c",
    "erlang_c_metrics",
]

_TAIL_LOG_CUTOFF = 40.0  # drop chain states whose remaining mass is < e^-40 of the peak state
_MAX_QUEUE_STATES = 5_000_000  # safety valve for enormous queues (overload, huge patience)
_DENSITY_LOG_DROP = 60.0  # integrate the wait density where it is within e^-60 of its peak
_PANEL_LOG_CHANGE = 4.0  # max change of the log-integrand across one Gauss-Legendre panel
_GL_ORDER = 16


def _gauss_legendre(order: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes and weights on [-1, 1] by Newton iteration on P_order (Numerical Recipes gauleg)."""
    nodes: list[float] = []
    weights: list[float] = []
    for i in range(1, order + 1):
        x = math.cos(math.pi * (i - 0.25) / (order + 0.5))
        for _ in range(100):
            p_prev, p = 1.0, x
            for k in range(2, order + 1):
                p_prev, p = p, ((2 * k - 1) * x * p - (k - 1) * p_prev) / k
            dp = order * (x * p - p_prev) / (x * x - 1.0)
            step = p / dp
            x -= step
            if abs(step) < 1e-16:
                break
        p_prev, p = 1.0, x
        for k in range(2, order + 1):
            p_prev, p = p, ((2 * k - 1) * x * p - (k - 1) * p_prev) / k
        dp = order * (x * p - p_prev) / (x * x - 1.0)
        nodes.append(x)
        weights.append(2.0 / ((1.0 - x * x) * dp * dp))
    return tuple(nodes), tuple(weights)


_GL_NODES, _GL_WEIGHTS = _gauss_legendre(_GL_ORDER)


def _check_rate(name: str, value: float, *, positive: bool) -> None:
    if not math.isfinite(value) or value < 0.0 or (positive and value == 0.0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {kind} number, got {value!r}")


def _check_servers(servers: int, minimum: int = 1) -> None:
    if servers < minimum:
        raise ValueError(f"servers must be an integer >= {minimum}, got {servers!r}")


def _check_target(target: float) -> None:
    if not 0.0 < target < 1.0:
        raise ValueError(f"target service level must be in (0, 1), got {target!r}")


def _log1pexp(z: float) -> float:
    """``log(1 + e^z)`` without overflow."""
    return z + math.log1p(math.exp(-z)) if z > 0.0 else math.log1p(math.exp(z))


def erlang_b(servers: int, load: float) -> float:
    """Erlang B blocking probability of an M/M/n/n system with ``load`` Erlangs offered."""
    _check_servers(servers, minimum=0)
    _check_rate("load", load, positive=False)
    blocking = 1.0
    for k in range(1, servers + 1):  # B(k) = a B(k-1) / (k + a B(k-1)), stable for large n
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Erlang C probability that an arrival waits in M/M/n; 1.0 when ``load >= servers``."""
    _check_servers(servers)
    _check_rate("load", load, positive=False)
    if load >= servers:
        return 1.0
    blocking = erlang_b(servers, load)
    return blocking / (1.0 - (load / servers) * (1.0 - blocking))  # C = B / (1 - rho (1 - B))


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """Steady-state performance of a queue, as seen by arrivals (PASTA).

    Attributes:
        p_wait: probability that an arrival finds all agents busy and has to queue.
        service_level: fraction of ALL arrivals that are answered (enter service) after a
            wait of at most ``threshold_s``. Abandoning callers never count as served within
            the threshold, whatever their wait. In Erlang C this is ``P(W <= t)``.
        asa_s: average speed of answer, the mean wait of answered callers (including 0s).
        avg_wait_s: mean wait of all callers, until service or abandonment.
        p_abandon: probability that an arrival abandons (always 0 in Erlang C).
        occupancy: agent utilisation, mean busy agents divided by ``servers``.
        threshold_s: service-level threshold the metrics were computed for.
    """

    p_wait: float
    service_level: float
    asa_s: float
    avg_wait_s: float
    p_abandon: float
    occupancy: float
    threshold_s: float

    @property
    def service_level_of_answered(self) -> float:
        """Fraction of answered callers answered within the threshold, ``P(W <= t | served)``."""
        answered = 1.0 - self.p_abandon
        return self.service_level / answered if answered > 0.0 else 0.0


def erlang_c_metrics(
    arrival_rate: float, mean_service_s: float, servers: int, threshold_s: float
) -> QueueMetrics:
    """M/M/n (Erlang C) metrics; raises ``ValueError`` if the load is not below ``servers``."""
    _check_rate("arrival_rate", arrival_rate, positive=False)
    _check_rate("mean_service_s", mean_service_s, positive=True)
    _check_rate("threshold_s", threshold_s, positive=False)
    _check_servers(servers)
    load = arrival_rate * mean_service_s
    if load >= servers:
        raise ValueError(
            f"Erlang C queue is unstable: offered load {load:.6g} Erlangs >= {servers} servers"
        )
    p_wait = erlang_c(servers, load)
    drain_rate = servers / mean_service_s - arrival_rate  # n mu - lambda > 0
    asa = p_wait / drain_rate  # ASA = C / (n mu - lambda)
    return QueueMetrics(
        p_wait=p_wait,
        service_level=1.0 - p_wait * math.exp(-drain_rate * threshold_s),
        asa_s=asa,
        avg_wait_s=asa,
        p_abandon=0.0,
        occupancy=load / servers,
        threshold_s=float(threshold_s),
    )


def _answered_wait_integral(
    log_scale: float, arrival_rate: float, service_rate: float, theta: float, t: float
) -> float:
    """``int_0^t exp(log_scale + phi(x)) dx`` with ``phi(x) = lambda H(x) - (n mu + theta) x``.

    In M/M/n+G the offered wait V has density ``lambda pi_{n-1} exp(lambda H(x) - n mu x)``
    on x > 0, ``H(x) = int_0^x (1 - G(u)) du`` (Baccelli & Hebuterne 1981; Mandelbaum &
    Zeltyn); the caller is served iff V <= patience, with probability ``e^{-theta V}`` here.
    ``phi`` is concave, so we locate its mode, keep the window where it is within
    ``_DENSITY_LOG_DROP`` of the peak, and apply composite Gauss-Legendre on panels across
    which ``phi`` changes by at most ``_PANEL_LOG_CHANGE``.
    """
    kappa = service_rate + theta

    def phi(x: float) -> float:
        return arrival_rate * -math.expm1(-theta * x) / theta - kappa * x

    def slope(x: float) -> float:
        return arrival_rate * math.exp(-theta * x) - kappa

    mode = math.log(arrival_rate / kappa) / theta if arrival_rate > kappa else 0.0
    floor = phi(mode) - _DENSITY_LOG_DROP

    def crossing(inside: float, outside: float) -> float:
        for _ in range(200):  # bisection: phi(inside) >= floor > phi(outside)
            middle = 0.5 * (inside + outside)
            if middle in (inside, outside):
                break
            inside, outside = (middle, outside) if phi(middle) >= floor else (inside, middle)
        return inside

    lo = crossing(mode, 0.0) if phi(0.0) < floor else 0.0
    if lo >= t:
        lo = 0.0
    inside, step = mode, 1.0 / kappa
    while mode + step < t and phi(mode + step) >= floor:
        inside, step = mode + step, 2.0 * step
    hi = t if mode + step >= t else crossing(inside, mode + step)
    if hi <= lo:
        return 0.0
    max_slope = max(abs(slope(lo)), abs(slope(hi)))
    panels = max(1, math.ceil((hi - lo) * max_slope / _PANEL_LOG_CHANGE))
    half = 0.5 * (hi - lo) / panels
    total = 0.0
    for p in range(panels):
        centre = lo + (2 * p + 1) * half
        for node, weight in zip(_GL_NODES, _GL_WEIGHTS, strict=True):
            total += weight * math.exp(log_scale + phi(centre + half * node))
    return total * half


def erlang_a_metrics(
    arrival_rate: float,
    mean_service_s: float,
    servers: int,
    threshold_s: float,
    mean_patience_s: float,
) -> QueueMetrics:
    """M/M/n+M (Erlang A) metrics with exponential patience of mean ``mean_patience_s``.

    Always stable, also for ``load >= servers``. ``service_level`` is the fraction of ALL
    arrivals that enter service after waiting at most ``threshold_s``; abandoned callers
    count as not served within the threshold (``service_level_of_answered`` gives the
    fraction among answered callers). ``mean_patience_s = inf`` falls back to Erlang C.

    Method: stationary probabilities of the birth-death chain in log space (states ``k < n``
    summed via Erlang B: ``sum_{k<n} pi_k / pi_n = 1/B(n, a) - 1``), truncated once the
    remaining tail mass is below ``e^-40``. By PASTA an arrival finding ``m`` callers queued
    ahead has offered wait ``V = sum_{i=0..m} Exp(n mu + i theta)`` and patience
    ``tau ~ Exp(theta)``, which telescopes to ``P(abandon) = (m+1) theta / (n mu + (m+1)
    theta)``, ``E[min(V, tau)] = (m+1) / (n mu + (m+1) theta)`` and
    ``E[V; V < tau] = n mu / (n mu + (m+1) theta) * sum_{j=1..m+1} 1 / (n mu + j theta)``.
    """
    if mean_patience_s == math.inf:
        return erlang_c_metrics(arrival_rate, mean_service_s, servers, threshold_s)
    _check_rate("mean_patience_s", mean_patience_s, positive=True)
    _check_rate("arrival_rate", arrival_rate, positive=False)
    _check_rate("mean_service_s", mean_service_s, positive=True)
    _check_rate("threshold_s", threshold_s, positive=False)
    _check_servers(servers)
    if arrival_rate == 0.0:
        return QueueMetrics(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, float(threshold_s))
    load = arrival_rate * mean_service_s
    service_rate = servers / mean_service_s  # n mu
    theta = 1.0 / mean_patience_s
    log_lambda = math.log(arrival_rate)
    if (arrival_rate - service_rate) / theta > _MAX_QUEUE_STATES:
        raise ValueError("queue too long to evaluate: patience too long for this overload")

    # log(1/B(k, a)) by 1/B(k) = 1 + (k/a) / B(k-1); then log(sum_{k<n} pi_k / pi_n).
    log_inv_b = 0.0
    for k in range(1, servers):
        log_inv_b = _log1pexp(math.log(k / load) + log_inv_b)
    log_low = math.log(servers / load) + log_inv_b

    # Queue states k = n + m; weights t_m = pi_{n+m} / pi_n accumulated as exp(log t_m - shift).
    shift = log_t = 0.0
    s_mass = s_abandon = s_wait = s_answered_wait = harmonic = 0.0
    m = 0
    while True:
        exit_rate = service_rate + (m + 1) * theta  # leave stage m: advance or abandon
        harmonic += 1.0 / exit_rate
        w = math.exp(log_t - shift)
        s_mass += w
        s_abandon += w * (m + 1) * theta / exit_rate
        s_wait += w * (m + 1) / exit_rate
        s_answered_wait += w * service_rate / exit_rate * harmonic
        ratio = arrival_rate / exit_rate  # t_{m+1} / t_m, decreasing in m
        if ratio < 1.0 and log_t - math.log1p(-ratio) < shift - _TAIL_LOG_CUTOFF:
            break  # remaining tail <= t_m * ratio / (1 - ratio) is negligible
        m += 1
        if m > _MAX_QUEUE_STATES:
            raise ValueError("queue too long to evaluate: patience too long for this overload")
        log_t += log_lambda - math.log(exit_rate)
        if log_t > shift:
            scale = math.exp(shift - log_t)
            s_mass, s_abandon = s_mass * scale, s_abandon * scale
            s_wait, s_answered_wait = s_wait * scale, s_answered_wait * scale
            shift = log_t

    log_queue = shift + math.log(s_mass)
    log_total = max(log_low, log_queue) + _log1pexp(-abs(log_low - log_queue))
    p_wait = math.exp(log_queue - log_total)
    p_abandon = p_wait * s_abandon / s_mass
    avg_wait = p_wait * s_wait / s_mass
    answered_wait = p_wait * s_answered_wait / s_mass  # E[W; answered]
    # Density of the offered wait at 0+ is n mu pi_n; served within t: e^{-theta x} factor.
    log_scale = math.log(service_rate) - log_total
    served_after_wait = _answered_wait_integral(
        log_scale, arrival_rate, service_rate, theta, threshold_s
    )
    return QueueMetrics(
        p_wait=p_wait,
        service_level=min(1.0, 1.0 - p_wait + served_after_wait),
        asa_s=answered_wait / (1.0 - p_abandon),
        avg_wait_s=avg_wait,
        p_abandon=p_abandon,
        occupancy=min(1.0, load * (1.0 - p_abandon) / servers),
        threshold_s=float(threshold_s),
    )


def agents_for_service_level(
    arrival_rate: float, mean_service_s: float, threshold_s: float, target: float
) -> int:
    """Smallest number of agents whose Erlang C service level is at least ``target``."""
    _check_target(target)
    _check_rate("arrival_rate", arrival_rate, positive=False)
    _check_rate("mean_service_s", mean_service_s, positive=True)
    _check_rate("threshold_s", threshold_s, positive=False)
    load = arrival_rate * mean_service_s
    servers = math.floor(load) + 1  # smallest stable staffing
    blocking = erlang_b(servers, load)
    while True:
        p_wait = blocking / (1.0 - (load / servers) * (1.0 - blocking))
        drain_rate = servers / mean_service_s - arrival_rate
        if 1.0 - p_wait * math.exp(-drain_rate * threshold_s) >= target:
            return servers
        servers += 1
        blocking = load * blocking / (servers + load * blocking)  # Erlang B recursion step


def agents_for_service_level_erlang_a(
    arrival_rate: float,
    mean_service_s: float,
    threshold_s: float,
    mean_patience_s: float,
    target: float,
) -> int:
    """Smallest number of agents whose Erlang A service level is at least ``target``.

    The service level (answered within the threshold, among all arrivals) increases with
    the number of agents, so this brackets by doubling and then bisects.
    """
    _check_target(target)
    if mean_patience_s == math.inf:
        return agents_for_service_level(arrival_rate, mean_service_s, threshold_s, target)

    def meets(servers: int) -> bool:
        if target > servers / load:  # served fraction (1 - P(Ab)) is at most servers / load
            return False
        metrics = erlang_a_metrics(
            arrival_rate, mean_service_s, servers, threshold_s, mean_patience_s
        )
        return metrics.service_level >= target

    load = arrival_rate * mean_service_s
    if load == 0.0:
        return 1
    failing, passing = 0, max(1, math.ceil(load))
    while not meets(passing):
        failing, passing = passing, 2 * passing
    while passing - failing > 1:
        middle = (failing + passing) // 2
        failing, passing = (failing, middle) if meets(middle) else (middle, passing)
    return passing
