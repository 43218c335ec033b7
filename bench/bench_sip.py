"""Calls per second through Helpline's B2BUA (issue 7, "Performance").

    python bench/bench_sip.py                  # raise the rate until calls fail (~2 min)
    python bench/bench_sip.py --quick          # a tiny run: that it works, not how fast
    python bench/bench_sip.py --start 50 --factor 1.25 --seconds 10 --agents 400

A real `helpline serve` (its own process, SQLite in a temporary directory, uvloop through
uvicorn when installed) with one tenant: number 100 goes to a queue served by a group of
`--agents` agents. Every agent's SIP account registers with digest (a small UDP
client here, `register`), all with the same Contact: one auto-answering
sipp (agent_phone.xml) that answers every offered call. Then sipp as the carrier
(caller.xml, from 127.0.0.2, the trunk's allow-listed address) places calls to 100 at a
fixed rate for `--seconds`: INVITE -> queue (our RTP endpoint answers and plays the hold
music) -> OfferCall -> INVITE to the agent's phone -> 200 -> ACK -> bridge (the caller's
socket handed from the endpoint to the RTP relay) -> the caller's BYE -> BYE to the agent ->
the call record written. A step passes when sipp's caller reports no failed call AND every call of
the step has its record, answered by an agent (the runtime writes records behind the calls:
the step waits for them, and prints how long that took); the rate goes up by `--factor`
until a step fails. Printed: each step's offered rate, the achieved rate, failed calls,
answered calls, records written, the drain time; then the highest passing rate.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpline.sip.auth import answer_challenge
from helpline.sip.message import Response, parse_message
from helpline.store import Store
from helpline.telephony.sip import set_password

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "sipnet" / "scenarios"
TENANT = "bench"
TRUNK_HOST = "127.0.0.2"
PASSWORD = "bench-password"


def free_port() -> int:
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


def center(agents: int) -> dict[str, Any]:
    ids = [f"a{i}" for i in range(agents)]
    return {
        "name": "SIP benchmark",
        "numbers": [{"number": "100", "queue": "q"}],
        "queues": [{"id": "q", "groups": ["all"], "wait_agent_answer_timeout": "10s"}],
        "groups": [{"id": "all", "agents": ids}],
        "agents": [{"id": agent} for agent in ids],
    }


async def seed(database_url: str, accounts: Path, agents: int) -> None:
    store = await Store.open(database_url)
    try:
        await store.tenants.create_tenant("Benchmark", tenant_id=TENANT)
        await store.configs.put_config(TENANT, center(agents))
    finally:
        await store.close()
    for i in range(agents):
        set_password(accounts, TENANT, f"a{i}", "helpline", PASSWORD)


async def count_records(store: Store) -> tuple[int, int]:
    """(records, records of calls an agent answered)."""
    total = await store.records.count_records(TENANT)
    answered, cursor = 0, None
    while True:
        page = await store.records.list_records(TENANT, cursor=cursor, limit=1000)
        answered += sum(1 for row in page.items if row.result == "answered" and row.agent_id)
        cursor = page.next_cursor
        if cursor is None:
            return total, answered


async def drain(database_url: str, expected: int, patience_s: float = 20.0) -> tuple[int, int]:
    """Wait for the records of every call so far (the runtime writes them behind the calls);
    give up once the count has not moved for `patience_s`. One connection, a read a second:
    the server's own writes must not wait on ours."""
    store = await Store.open(database_url)
    try:
        last, since = -1, time.monotonic()
        while True:
            total, answered = await count_records(store)
            if total >= expected:
                return total, answered
            if total != last:
                last, since = total, time.monotonic()
            elif time.monotonic() - since > patience_s:
                return total, answered
            await asyncio.sleep(1.0)
    finally:
        await store.close()


def options_answered(port: int) -> bool:
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
            return sock.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False


def register(sip_port: int, user: str, contact_port: int) -> None:
    """One agent's phone registers with digest (RFC 3261 10.2, 22.4): REGISTER, 401,
    REGISTER with the answer to the challenge, 200. The Contact is the auto-answering sipp."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        port = sock.getsockname()[1]
        uri = f"sip:127.0.0.1:{sip_port}"
        authorization = ""
        for cseq in (1, 2):
            request = (
                f"REGISTER {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{user}{cseq};rport\r\n"
                f"From: <sip:{user}@127.0.0.1>;tag=r{cseq}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                f"Call-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:{user}@127.0.0.1:{contact_port}>\r\nExpires: 3600\r\n"
                f"{authorization}Content-Length: 0\r\n\r\n"
            )
            sock.sendto(request.encode(), ("127.0.0.1", sip_port))
            response = parse_message(sock.recv(65535))
            assert isinstance(response, Response)
            if response.status == 200:
                return
            if response.status != 401 or cseq == 2:
                raise SystemExit(f"{user} could not register: {response.status}")
            challenge = response.headers.get_all("WWW-Authenticate")[0]
            answer = answer_challenge(
                challenge, username=user, password=PASSWORD, method="REGISTER", uri=uri,
                cnonce="bench", nc=1,
            )  # fmt: skip
            authorization = f"Authorization: {answer}\r\n"


@dataclass
class Step:
    rate: float
    calls: int
    successful: int
    failed: int
    seconds: float
    records: int = 0
    answered: int = 0  # records of this step's calls that an agent answered
    drain_s: float = 0.0  # how long the records took to be written after the step

    @property
    def achieved(self) -> float:
        return self.successful / self.seconds if self.seconds else 0.0


def sipp(*args: str, cwd: Path, timeout: float) -> int:
    done = subprocess.run(
        ["sipp", "-nostdin", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
    return done.returncode


def read_stats(path: Path) -> tuple[int, int]:
    """(successful, failed) from the last line of sipp's -trace_stat CSV."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header, last = rows[0], rows[-1]
    return int(last[header.index("SuccessfulCall(C)")]), int(last[header.index("FailedCall(C)")])


def run_step(work: Path, sip_port: int, rate: float, seconds: float, hold_ms: int) -> Step:
    calls = max(1, round(rate * seconds))
    step_dir = work / f"rate-{rate:g}"
    step_dir.mkdir()
    started = time.monotonic()
    sipp(
        "-sf", str(SCENARIOS / "caller.xml"), "-s", "100",
        "-i", TRUNK_HOST, "-p", str(free_port()),
        "-r", f"{rate:g}", "-m", str(calls), "-d", str(hold_ms),
        "-timeout", f"{seconds + 30:g}s", "-trace_stat", "-stf", "stats.csv", "-fd", "1",
        f"127.0.0.1:{sip_port}",
        cwd=step_dir, timeout=seconds + 60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    successful, failed = read_stats(step_dir / "stats.csv")
    return Step(rate, calls, successful, failed, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--start", type=float, default=25.0, help="first rate (calls/s)")
    parser.add_argument("--factor", type=float, default=1.4, help="rate multiplier per step")
    parser.add_argument("--max", type=float, default=2000.0, help="stop at this rate")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each step")
    parser.add_argument("--hold-ms", type=int, default=300, help="talk time of each call")
    parser.add_argument("--quick", action="store_true", help="5 agents, one step of 3 cps")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.start, args.max, args.seconds = 5, 3.0, 3.0, 2.0
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    database_url = f"sqlite+aiosqlite:///{work / 'helpline.db'}"
    accounts = work / "sip-accounts.json"
    asyncio.run(seed(database_url, accounts, args.agents))
    sip_port, http_port, phone_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HELPLINE_SIP_ACCOUNTS_FILE": str(accounts),
        "HELPLINE_SIP_TRUNKS": f'[{{"tenant_id": "{TENANT}", "addresses": ["{TRUNK_HOST}"]}}]',
        "HELPLINE_SIP_TRUSTED": '["127.0.0.1"]',  # the load's phones: no abuse limits
        "HELPLINE_MEDIA_DIR": str(work / "media"),
    }
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "serve", "--port", str(http_port),
         "--database", database_url, "--sip-port", str(sip_port), "--sip-host", "127.0.0.1"],
        env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    phone = None
    try:
        deadline = time.monotonic() + 30
        while not options_answered(sip_port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start: see {work / 'server.log'}")
        phone = subprocess.Popen(
            ["sipp", "-nostdin", "-sf", str(SCENARIOS / "agent_phone.xml"), "-i", "127.0.0.1",
             "-p", str(phone_port), "-bind_local"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i in range(args.agents):
            register(sip_port, f"{TENANT}_a{i}", phone_port)
        time.sleep(0.5)
        print(
            f"{args.agents} agents registered; steps of {args.seconds:g} s, hold {args.hold_ms} ms"
        )
        print(
            f"{'offered cps':>12} {'achieved':>9} {'calls':>7} {'failed':>7} {'answered':>9}"
            f" {'records':>8} {'drain s':>8}"
        )
        best = 0.0
        rate = args.start
        offered = recorded = answered_before = 0
        while rate <= args.max:
            step = run_step(work, sip_port, rate, args.seconds, args.hold_ms)
            offered += step.calls
            drain_started = time.monotonic()
            total, answered = asyncio.run(drain(database_url, offered))
            step.records, recorded = total - recorded, total
            step.answered, answered_before = answered - answered_before, answered
            step.drain_s = time.monotonic() - drain_started
            print(
                f"{step.rate:12.1f} {step.achieved:9.1f} {step.calls:7d} {step.failed:7d}"
                f" {step.answered:9d} {step.records:8d} {step.drain_s:8.1f}"
            )
            if step.failed or step.successful < step.calls or step.answered < step.calls:
                break
            best = rate
            rate = round(rate * args.factor, 1)
        print(f"highest rate with zero failed calls: {best:g} calls/s")
        return 0 if best > 0 else 1
    finally:
        for process in (phone, server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        log.close()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
