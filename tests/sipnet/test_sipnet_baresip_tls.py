"""Debian's baresip as an agent's SIP phone over TLS (RFC 3261 26, `;transport=tls`): it
registers with digest over TLS, trusting the test CA (`sip_cafile`), and auto-answers a
queued trunk call whose INVITE, ACK and BYE reach it over the connection it registered on
(RFC 5626 5.3), while the carrier's caller (sipp) stays on UDP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sipnet_support import PASSWORDS, TENANT, free_port, poll
from sipnet_tls import make_certificates
from test_sipnet_tls import only_record, sipp_caller, tls_port, tls_server


async def _baresip_over_tls(tmp_path: Path, port: int, ca: Path) -> asyncio.subprocess.Process:
    home = tmp_path / "baresip"
    home.mkdir()
    source = tmp_path / "agent-tone.wav"  # what the phone sends: 440 Hz, 8 kHz mono
    sox = await asyncio.create_subprocess_exec(
        "sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(source),
        "synth", "20", "sine", "440", "vol", "0.3",
    )  # fmt: skip
    assert await sox.wait() == 0
    (home / "accounts").write_text(
        f"<sip:{TENANT}_alice@127.0.0.1:{port};transport=tls>"
        f";auth_pass={PASSWORDS['alice']};regint=600;answermode=auto;audio_codecs=PCMU\n"
    )
    (home / "config").write_text(
        f"sip_listen 127.0.0.1:{free_port()}\nsip_cafile {ca}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module account.so\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n"
        f"audio_source aufile,{source}\naudio_player aubridge,agent\n"
        "audio_alert aufile,/dev/null\n"
    )
    return await asyncio.create_subprocess_exec(
        "baresip", "-f", str(home), "-s",  # -s: its SIP trace, in baresip.out
        stdin=asyncio.subprocess.DEVNULL,
        stdout=(tmp_path / "baresip.out").open("w"),
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def test_baresip_registers_over_tls_and_answers_a_queued_call_on_its_flow(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    async with tls_server(tmp_path, certificates) as server:
        baresip = await _baresip_over_tls(tmp_path, tls_port(server), certificates.ca)
        try:
            await poll(lambda: server.engine_agent("alice").online, "baresip to register", 20)
            (binding,) = server.sip.registrar.bindings(f"{TENANT}_alice", server.sip.stack.clock())
            assert binding.source.startswith("tls:127.0.0.1:")
            assert binding.contact.endswith(";transport=tls")
            caller = sipp_caller(tmp_path, server, talk_ms=4000)

            def bridged_leg() -> Any:
                for call in server.sip.b2bua.calls.values():
                    leg = call.agents.get("alice")
                    if leg is not None and call.bridged:
                        return leg
                return None

            await poll(lambda: bridged_leg() is not None, "baresip answering", 15)
            leg = bridged_leg()
            assert str(leg.destination) == binding.source  # the flow it registered on
            status, log = await asyncio.wait_for(caller, 25)
            assert status == 0, log
            record = await only_record(server)
            assert (record.result, record.agent_id) == ("answered", "alice")
            assert record.disconnected_by == "customer"

            def trace() -> str:
                return (tmp_path / "baresip.out").read_text(errors="replace")

            await poll(lambda: "\nBYE sip:" in trace(), "the BYE in baresip's trace")
            assert "\nACK sip:" in trace()
            assert not server.sip.b2bua.calls  # every leg is gone
        finally:
            baresip.terminate()
            await baresip.wait()
