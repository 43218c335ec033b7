"""SIP parse and serialize rate of `helpline.sip.message` (issue 7, "Performance").

    python bench/bench_sip_parse.py              # about 10 s
    python bench/bench_sip_parse.py --calls 10000

The messages are the seven of one bridged call's leg as sipp and Helpline exchange them
(INVITE with an SDP offer, 100, 180, 200 with the answer, ACK, BYE, 200), for `--calls`
calls, each with its own Call-ID, tags and branches (as on the wire: nothing that caches by
value may see the same message twice), parsed from bytes and serialized back on one core.
Printed: messages parsed per second, messages serialized per second, and the cost of each
in microseconds, the best of three runs, in the process's CPU time (other work on a shared
machine then costs less precision): the parse side is what every datagram through the
B2BUA pays once.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from helpline.runtime.gc_pacing import SAFETY_THRESHOLDS
from helpline.sip.message import parse_message

_SDP = (
    "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
)
_DIALOG = (
    "From: <sip:+15550001111@127.0.0.2:5061>;tag={call}\r\n"
    "To: <sip:100@127.0.0.1:5060>{to_tag}\r\n"
    "Call-ID: {call}-4242@127.0.0.2\r\n"
)
_VIA = "Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-4242-{call}-{n}\r\n"


def _message(call: int, start: str, n: int, cseq: str, *, to_tag: str = "", sdp: str = "") -> bytes:
    body = sdp.encode()
    dialog = _DIALOG.format(call=call, to_tag=to_tag and f"{to_tag}{call}")
    head = (
        f"{start}\r\n{_VIA.format(call=call, n=n)}{dialog}CSeq: {cseq}\r\n"
        "Contact: <sip:caller@127.0.0.2:5061>\r\nMax-Forwards: 70\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def call_messages(call: int) -> list[bytes]:
    return [
        _message(call, "INVITE sip:100@127.0.0.1:5060 SIP/2.0", 0, "1 INVITE", sdp=_SDP),
        _message(call, "SIP/2.0 100 Trying", 0, "1 INVITE"),
        _message(call, "SIP/2.0 180 Ringing", 0, "1 INVITE", to_tag=";tag=a"),
        _message(call, "SIP/2.0 200 OK", 0, "1 INVITE", to_tag=";tag=a", sdp=_SDP),
        _message(call, "ACK sip:agent@127.0.0.1:5062 SIP/2.0", 5, "1 ACK", to_tag=";tag=a"),
        _message(call, "BYE sip:agent@127.0.0.1:5062 SIP/2.0", 7, "2 BYE", to_tag=";tag=a"),
        _message(call, "SIP/2.0 200 OK", 7, "2 BYE", to_tag=";tag=a"),
    ]


def rate(action: Callable[[int], None], calls: int) -> float:
    """Messages a second of `action` over every call's messages, the best of three runs
    (each on calls numbered apart from the other runs')."""
    best = 0.0
    for run in range(3):
        started = time.process_time()
        action(run)
        best = max(best, calls * MESSAGES_PER_CALL / (time.process_time() - started))
    return best


MESSAGES_PER_CALL = 7


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per run")
    args = parser.parse_args(argv)
    runs = [
        [data for call in range(run * args.calls, (run + 1) * args.calls) for data in
         call_messages(call)]
        for run in range(3)
    ]  # fmt: skip
    parsed = [parse_message(data) for data in runs[0]]
    # The server's automatic collector settings (its clock's collections aside), and the
    # inputs out of its way: otherwise each run rescans the hundred thousand messages
    # waiting their turn, which the server never holds
    gc.set_threshold(*SAFETY_THRESHOLDS)
    gc.collect()
    gc.freeze()

    def parse(run: int) -> None:
        for data in runs[run]:
            parse_message(data)

    def parse_and_read(run: int) -> None:  # what the transaction layer reads off each one
        for data in runs[run]:
            message = parse_message(data)
            _ = message.top_via.branch, message.cseq, message.call_id, message.to.tag

    def serialize(_run: int) -> None:
        for message in parsed:
            message.serialize()

    for name, action in (
        ("parse", parse),
        ("parse + read Via/CSeq/To", parse_and_read),
        ("serialize", serialize),
    ):
        per_second = rate(action, args.calls)
        print(f"{name:>26}: {per_second:10,.0f} messages/s  {1e6 / per_second:6.1f} µs each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
