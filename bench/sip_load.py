"""The load side of bench/bench_sip.py, the same for every B2BUA it measures: sipp as the
caller (bench/scenarios/b2bua_caller.xml) at a fixed rate per step, sipp's counters, the
B2BUA process's CPU time from /proc, and the rate ramp with its zero-failure rule.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CALLER = BENCH / "scenarios" / "b2bua_caller.xml"
AGENT_PHONE = BENCH.parent / "tests" / "sipnet" / "scenarios" / "agent_phone.xml"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port free on both UDP and TCP of 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def answers_options(port: int) -> bool:
    """Whether a SIP element listens on UDP `port`: any response to an OPTIONS will do."""
    request = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKb1;rport\r\n"
        "From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: bench-probe\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            return sock.recv(4096).startswith(b"SIP/2.0 ")
        except OSError:
            return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (proc(5): fields 14 and 15 of stat)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def start_agent_phone(work: Path, port: int) -> subprocess.Popen[bytes]:
    """The auto-answering phone (sipp UAS) every bridged call ends at."""
    return subprocess.Popen(
        ["sipp", "-nostdin", "-sf", str(AGENT_PHONE), "-i", "127.0.0.1", "-p", str(port),
         "-bind_local"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@dataclass
class Step:
    """One rate of the ramp as the caller and the B2BUA saw it."""

    rate: float
    calls: int
    successful: int
    failed: int
    retransmissions: int
    seconds: float
    cpu_s: float  # the B2BUA process's CPU time during the step
    answered: int | None = None  # Helpline only: records of the step's calls an agent answered
    drain_s: float | None = None  # Helpline only: how long those records took to be written
    drain_cpu_s: float = 0.0  # Helpline only: the server's CPU time while they were written
    misses: list[str] = field(default_factory=list)  # Helpline only: calls no agent answered

    @property
    def cpu_ms_per_call(self) -> float:
        """The B2BUA's CPU per call, the writing of records behind the calls included."""
        return 1000.0 * (self.cpu_s + self.drain_cpu_s) / self.calls if self.calls else 0.0

    @property
    def achieved(self) -> float:
        return self.successful / self.seconds if self.seconds else 0.0

    @property
    def cpu_share(self) -> float:
        """CPU of the B2BUA over the step; 1.0 is one core busy all the time."""
        return self.cpu_s / self.seconds if self.seconds else 0.0

    @property
    def passed(self) -> bool:
        ok = not self.failed and self.successful >= self.calls
        return ok and (self.answered is None or self.answered >= self.calls)


def _read_stats(path: Path) -> tuple[int, int, int]:
    """(successful, failed, retransmissions) from the last line of sipp's -trace_stat CSV."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header, last = rows[0], rows[-1]

    def count(name: str) -> int:
        return int(last[header.index(name)])

    return count("SuccessfulCall(C)"), count("FailedCall(C)"), count("Retransmissions(C)")


def call_step(
    work: Path, target: str, source_host: str, rate: float, *, seconds: float, hold_ms: int,
    pid: int,
) -> Step:  # fmt: skip
    """`rate` calls a second for `seconds` from sipp at `source_host` to number 100 at
    `target`, each held `hold_ms`; returns when sipp has ended every call."""
    calls = max(1, round(rate * seconds))
    step_dir = work / f"rate-{rate:g}"
    serial = 1
    while step_dir.exists():  # the same rate held for more steps (`ramp`'s steps_per_rate)
        serial += 1
        step_dir = work / f"rate-{rate:g}-{serial}"
    step_dir.mkdir()
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    caller = subprocess.Popen(
        ["sipp", "-nostdin", "-sf", str(CALLER), "-s", "100",
         "-i", source_host, "-p", str(free_port()),
         "-r", f"{rate:g}", "-m", str(calls), "-d", str(hold_ms),
         # a call still waiting for an answer after 10 s has failed (FailedTimeoutOnRecv)
         "-recv_timeout", "10000", "-timeout", f"{seconds + 30:g}s",
         "-trace_stat", "-stf", "stats.csv", "-fd", "1",
         target],
        cwd=step_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        caller.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:  # calls sipp could not end: failed, as sipp says below
        caller.kill()
        caller.wait()
    elapsed, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
    successful, failed, retransmissions = _read_stats(step_dir / "stats.csv")
    failed = max(failed, calls - successful)  # a call that never ended failed too
    return Step(rate, calls, successful, failed, retransmissions, elapsed, cpu)


def ramp(
    name: str,
    run: Callable[[float], Step],
    start: float,
    factor: float,
    most: float,
    *,
    steps_per_rate: int = 1,
) -> tuple[float, list[Step]]:
    """Raise the rate by `factor` from `start` until a step fails or `most` is passed, each
    rate held for `steps_per_rate` steps in a row (a rate passes when all of them do: a
    server's state of past calls, kept 64*T1 for retransmissions, is only in full from the
    second 32 s on); prints each step. Returns the highest rate with no failed call (0 if
    none) and the steps."""
    print(f"\n{name}")
    print(
        f"{'offered cps':>12} {'achieved':>9} {'calls':>7} {'failed':>7} {'retrans':>8}"
        f" {'B2BUA CPU':>10} {'CPU ms/call':>12} {'answered':>9} {'drain s':>8}"
    )
    best, steps, rate = 0.0, [], start
    while rate <= most:
        for _ in range(steps_per_rate):
            step = run(rate)
            steps.append(step)
            answered = "-" if step.answered is None else str(step.answered)
            drain = "-" if step.drain_s is None else f"{step.drain_s:.1f}"
            print(
                f"{step.rate:12.1f} {step.achieved:9.1f} {step.calls:7d} {step.failed:7d}"
                f" {step.retransmissions:8d} {step.cpu_share:9.0%} {step.cpu_ms_per_call:12.2f}"
                f" {answered:>9} {drain:>8}",
                flush=True,
            )
            for miss in step.misses[:3]:  # why a step failed, when no agent answered a call
                print(f"{'':12} not answered: {miss}")
            if not step.passed:
                return best, steps
        best = rate
        rate = round(rate * factor, 1)
    return best, steps
