"""Calls per second through Helpline's B2BUA and through Sippy B2BUA (issue 7, "Performance").

    python bench/bench_sip.py                  # both B2BUAs, raise the rate until calls fail
    python bench/bench_sip.py --quick          # a tiny run: that it works, not how fast
    python bench/bench_sip.py --b2bua helpline --start 50 --factor 1.25 --seconds 10
    python bench/bench_sip.py --b2bua helpline --start 150 --max 150 --profile prof.txt
    python bench/bench_sip.py --b2bua helpline --start 250 --factor 1.1 --steps-per-rate 4

The same load for both: sipp as the carrier's caller (bench/scenarios/b2bua_caller.xml)
places calls to number 100 at a fixed rate for `--seconds`, each held `--hold-ms`, and one
auto-answering sipp (tests/sipnet/scenarios/agent_phone.xml) answers the B-legs; the rate
goes up by `--factor` from `--start` until a step has a failed call (see `sip_load.ramp`).
`--steps-per-rate N` holds each rate for N steps: each call's transactions and B2BUA state
are kept 64*T1 (32 s) to absorb retransmissions, so their expiry only weighs from the
second step on, and a single fresh step overstates what the server sustains.

Helpline: a real `helpline serve` (its own process, SQLite in a temporary directory, uvloop
through uvicorn when installed) with one tenant: number 100 goes to a queue served by a group
of `--agents` agents. Every agent's SIP account registers with digest (`register`), all with
the auto-answering sipp as Contact. The caller comes from 127.0.0.2, the trunk's allow-listed
address: INVITE -> queue (our RTP endpoint answers and plays the hold music) -> OfferCall ->
INVITE to the agent's phone -> 200 -> ACK -> bridge -> the caller's BYE -> BYE to the agent
-> the call record written. A step passes when sipp reports no failed call AND every call of
the step has its record, answered by an agent (the runtime writes records behind the calls:
the step waits for them, and prints how long that took).

Sippy B2BUA (PyPI `sippy`, started by bench/sippy_b2bua.py with one UDP worker, its message
log off): every INVITE bridged straight to the agent phone (`-n`). A step passes when sipp
reports no failed call.

Printed per step: offered rate, achieved rate, calls, failed calls, the caller's
retransmissions (a B2BUA falling behind shows there first), the B2BUA process's CPU share
(100 % is one core) and its CPU time per call (for Helpline with the writing of records
after the step, the drain, included), and for Helpline the answered records and the drain
time; then the highest passing rate of each and their ratio. `--profile FILE` samples the
Helpline server with py-spy over its whole ramp (collapsed stacks of the thread holding the
interpreter lock, one line per stack).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpline.sip.auth import answer_challenge
from helpline.sip.message import Response, parse_message
from helpline.store import Store
from helpline.telephony.sip import set_password
from sip_load import (
    Step,
    answers_options,
    call_step,
    cpu_seconds,
    free_port,
    ramp,
    start_agent_phone,
)

BENCH = Path(__file__).resolve().parent
TENANT = "bench"
TRUNK_HOST = "127.0.0.2"
PASSWORD = "bench-password"


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


@dataclass
class Tally:
    total: int = 0  # records
    answered: int = 0  # records that ended since the step began, of calls an agent answered
    misses: dict[str, str] = field(default_factory=dict)  # call id -> what became of it


async def count_records(store: Store, since: float) -> Tally:
    """The records so far, and those that ended since `since` (the step's start: the calls
    before it all ended before their own drain was over) read one by one. Reading them all
    each time made the check slower with every step (4 s after 100,000 calls)."""
    tally = Tally(total=await store.records.count_records(TENANT))
    cursor = None
    while True:
        page = await store.records.list_records(TENANT, start=since, cursor=cursor, limit=1000)
        for row in page.items:
            if row.result == "answered" and row.agent_id:
                tally.answered += 1
            else:
                offered = ", ".join(a for d in row.decisions for a in d.get("chosen", ()))
                tally.misses[row.call_id] = (
                    f"{row.call_id} {row.result} ({row.end_reason}) after"
                    f" {row.ended_at - row.created_at:.3f} s, offered to {offered or 'no one'}"
                )
        cursor = page.next_cursor
        if cursor is None:
            return tally


async def drain(database_url: str, expected: int, began: float, patience_s: float = 20.0) -> Tally:
    """Wait for the records of every call so far (the runtime writes them behind the calls);
    give up once the count has not moved for `patience_s`. One connection, a read a second:
    the server's own writes must not wait on ours."""
    store = await Store.open(database_url)
    try:
        last, since = -1, time.monotonic()
        while True:
            tally = await count_records(store, began)
            if tally.total >= expected:
                return tally
            if tally.total != last:
                last, since = tally.total, time.monotonic()
            elif time.monotonic() - since > patience_s:
                return tally
            await asyncio.sleep(1.0)
    finally:
        await store.close()


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


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    # a loaded machine (CI, the whole suite before this) can take a while to import the
    # server and its media workers; the log's tail goes in the message, as the work folder
    # it lives in is removed on the way out
    deadline = time.monotonic() + 60
    while not answers_options(port):
        if time.monotonic() > deadline or process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            state = "exited" if process.poll() is not None else "no answer to OPTIONS in 60 s"
            raise SystemExit(f"the B2BUA did not start ({state}); its log ends:\n{tail}")


@contextmanager
def profiled(pid: int, path: str | None) -> Iterator[None]:
    """py-spy samples `pid` while the body runs (collapsed stacks into `path`); only the
    thread holding the interpreter lock is sampled, so the stacks are where CPU goes, not
    where a thread waits for the lock."""
    if path is None:
        yield
        return
    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--output", path, "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        spy.wait(timeout=60)


def run_helpline(work: Path, args: argparse.Namespace) -> float:
    """Helpline's ramp; the highest rate with no failed call."""
    work.mkdir()
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
    log = work / "server.log"
    server = phone = None
    with log.open("w") as log_file:
        try:
            server = subprocess.Popen(
                [sys.executable, "-m", "helpline.cli", "serve", "--port", str(http_port),
                 "--database", database_url, "--sip-port", str(sip_port),
                 "--sip-host", "127.0.0.1"],
                env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log_file,
            )  # fmt: skip
            wait_listening(sip_port, server, log)
            phone = start_agent_phone(work, phone_port)
            for i in range(args.agents):
                register(sip_port, f"{TENANT}_a{i}", phone_port)
            time.sleep(0.5)
            offered = 0
            missed: set[str] = set()  # calls no agent answered, already shown

            def step(rate: float) -> Step:
                nonlocal offered
                assert server is not None
                target = f"127.0.0.1:{sip_port}"
                began = time.time()  # the server's clock too: records' ended_at
                result = call_step(
                    work, target, TRUNK_HOST, rate,
                    seconds=args.seconds, hold_ms=args.hold_ms, pid=server.pid,
                )  # fmt: skip
                # a call sipp saw fail may have no record: one refused with 503 never started
                offered += result.calls - result.failed
                drain_started, drain_cpu = time.monotonic(), cpu_seconds(server.pid)
                tally = asyncio.run(drain(database_url, offered, began))
                result.answered = tally.answered
                result.misses = [text for key, text in tally.misses.items() if key not in missed]
                missed.update(tally.misses)
                result.drain_s = time.monotonic() - drain_started
                result.drain_cpu_s = cpu_seconds(server.pid) - drain_cpu
                return result

            title = f"Helpline: {args.agents} agents registered, queue -> agent phone"
            with profiled(server.pid, args.profile):
                best, _ = ramp(
                    title, step, args.start, args.factor, args.max,
                    steps_per_rate=args.steps_per_rate,
                )  # fmt: skip
            return best
        finally:
            stop(phone)
            stop(server)


def run_sippy(work: Path, args: argparse.Namespace) -> float:
    """Sippy B2BUA's ramp; the highest rate with no failed call."""
    work.mkdir()
    sip_port, phone_port = free_port(), free_port()
    log = work / "sippy.log"
    env = {**os.environ, "SIPLOG_BEND": "none"}
    b2bua = phone = None
    with log.open("w") as log_file:
        try:
            b2bua = subprocess.Popen(
                [sys.executable, str(BENCH / "sippy_b2bua.py"), "-f", "-l", "127.0.0.1",
                 "-p", str(sip_port), "-n", f"127.0.0.1:{phone_port}"],
                env=env, cwd=work, stdout=log_file, stderr=log_file,
            )  # fmt: skip
            wait_listening(sip_port, b2bua, log)
            phone = start_agent_phone(work, phone_port)
            time.sleep(0.5)

            def step(rate: float) -> Step:
                assert b2bua is not None
                target = f"127.0.0.1:{sip_port}"
                return call_step(
                    work, target, TRUNK_HOST, rate,
                    seconds=args.seconds, hold_ms=args.hold_ms, pid=b2bua.pid,
                )  # fmt: skip

            title = "Sippy B2BUA (b2bua_simple, one UDP worker) -> agent phone"
            best, _ = ramp(
                title, step, args.start, args.factor, args.max, steps_per_rate=args.steps_per_rate
            )
            return best
        finally:
            stop(phone)
            stop(b2bua)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--b2bua", choices=("both", "helpline", "sippy"), default="both")
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--start", type=float, default=25.0, help="first rate (calls/s)")
    parser.add_argument("--factor", type=float, default=1.4, help="rate multiplier per step")
    parser.add_argument("--max", type=float, default=2000.0, help="stop at this rate")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each step")
    parser.add_argument(
        "--steps-per-rate",
        type=int,
        default=1,
        metavar="N",
        help="hold each rate for N steps, all of which must pass: what a server sustains "
        "(state of past calls is kept 32 s; a fresh step overstates it)",
    )
    parser.add_argument("--hold-ms", type=int, default=300, help="talk time of each call")
    parser.add_argument("--profile", help="py-spy the Helpline server into this file")
    parser.add_argument("--quick", action="store_true", help="5 agents, one step of 3 cps")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.start, args.max, args.seconds = 5, 3.0, 3.0, 2.0
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    print(f"steps of {args.seconds:g} s, calls held {args.hold_ms} ms, rate x{args.factor:g}")
    results: dict[str, float] = {}
    try:
        if args.b2bua in ("both", "helpline"):
            results["Helpline"] = run_helpline(work / "helpline", args)
        if args.b2bua in ("both", "sippy"):
            results["Sippy B2BUA"] = run_sippy(work / "sippy", args)
    finally:
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for name, best in results.items():
        print(f"{name}: highest rate with zero failed calls: {best:g} calls/s")
    helpline, sippy = results.get("Helpline"), results.get("Sippy B2BUA")
    if helpline is not None and sippy:
        print(f"Helpline / Sippy B2BUA: {helpline / sippy:.2f}")
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
