"""Start Sippy B2BUA (PyPI `sippy`, its `b2bua_simple` program) the way bench/bench_sip.py
compares against it: every INVITE bridged to one next hop (`-n host:port`), listening on
`-l addr -p port`, in the foreground (`-f`).

    python bench/sippy_b2bua.py -f -l 127.0.0.1 -p 5070 -n 127.0.0.1:5080

One setting is changed at run time, here, before Sippy starts (its code is not copied):
its UDP server runs one receiving and one sending thread (`Udp_server_opts.nworkers`, 3 by
default). The threads share one interpreter lock, so more of them only add lock handovers;
issue 7 measured Sippy with one worker. Sippy's message log goes nowhere when the caller sets
SIPLOG_BEND=none (the bench does: Helpline does not log each message either).

Issue 7 also lower-cased the transport parameter in Sippy's request targets, which its B-leg
BYE needed when sipp's built-in UAS put `;transport=UDP` in its Contact. The bench's agent
phone (tests/sipnet/scenarios/agent_phone.xml) sends no transport parameter, so `--lower-
transport` is off by default; with it, Sippy lower-cases the value when it parses a URI.
"""

from __future__ import annotations

import sys
from typing import Any

from sippy import Udp_server, b2bua_simple
from sippy.SipURL import SipURL


def use_one_udp_worker() -> None:
    Udp_server.Udp_server_opts.nworkers = 1


def lower_case_transport() -> None:
    """RFC 3261 19.1.1: transport values compare case-insensitively, but Sippy looks the
    parsed value up as written (`SipURL.getTAddr`), and knows "udp", not "UDP"."""
    set_params = SipURL.setParams

    def set_params_lowered(self: Any, params: Any) -> None:
        set_params(self, params)
        if isinstance(self.transport, str):
            self.transport = self.transport.lower()

    SipURL.setParams = set_params_lowered  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    use_one_udp_worker()
    if "--lower-transport" in argv:
        argv = [arg for arg in argv if arg != "--lower-transport"]
        lower_case_transport()
    sys.argv = ["b2bua_simple", *argv]
    b2bua_simple.main_func()


if __name__ == "__main__":
    main(sys.argv[1:])
