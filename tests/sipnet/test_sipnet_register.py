"""Agents' SIP phones register with digest against the running app (issue 7 point 2, seed
000 Step 3d: user name `projectId_userId`): a registered phone puts its agent online for
routing type 1, and unregistering takes it offline without clearing other presence."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sipnet_support import (
    PASSWORDS,
    PHONE_HOST,
    TENANT,
    RawPeer,
    free_port,
    poll,
    raw_request,
    sip_server,
    sipp_register,
)

from helpline.telephony.sip import set_password
from helpline.telephony.virtual import VirtualDevice


async def test_sipp_registers_with_digest_and_the_agent_goes_online(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        assert not server.engine_agent("alice").online
        phone = free_port()  # where the phone takes calls: its Contact, the binding's key
        status, log = await sipp_register(server, tmp_path, "alice", contact_port=phone)
        assert status == 0, log
        await server.settle()
        assert server.engine_agent("alice").online
        assert not server.engine_agent("bob").online
        (binding,) = server.sip.registrar.bindings(f"{TENANT}_alice", server.sip.stack.clock())
        assert binding.contact.startswith(f"sip:{TENANT}_alice@127.0.0.1:")
        assert binding.source.startswith("udp:127.0.0.1:")
        status, log = await sipp_register(server, tmp_path, "alice", expires=0, contact_port=phone)
        assert status == 0, log
        await server.settle()
        assert not server.engine_agent("alice").online


async def test_sipp_registers_over_tcp(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        status, log = await sipp_register(server, tmp_path, "bob", tcp=True)
        assert status == 0, log
        await server.settle()
        assert server.engine_agent("bob").online
        (binding,) = server.sip.registrar.bindings(f"{TENANT}_bob", server.sip.stack.clock())
        assert binding.source.startswith("tcp:127.0.0.1:")


async def test_sha256_is_offered_when_configured(tmp_path: Path) -> None:
    async with sip_server(tmp_path, sip_digest_algorithms=["SHA-256", "MD5"]) as server:
        peer = await RawPeer.open(PHONE_HOST, server.port)
        try:
            uri = f"sip:127.0.0.1:{server.port}"
            peer.send(raw_request(peer, "REGISTER", uri, call_id="sha-test"))
            challenge = await peer.expect(401)
            offered = challenge.headers.get_all("WWW-Authenticate")
            assert [v.split("algorithm=")[1].split(",")[0] for v in offered] == ["SHA-256", "MD5"]
        finally:
            peer.close()


async def test_a_wrong_password_and_an_unknown_account_get_the_same_401(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        status, log = await sipp_register(server, tmp_path, "alice", password="guess", final=401)
        assert status == 0, log
        # carol is no account: the very same answer, so accounts cannot be enumerated
        status, log = await sipp_register(server, tmp_path, "carol", password="x", final=401)
        assert status == 0, log
        await server.settle()
        assert not server.engine_agent("alice").online
        assert server.sip.registrar.binding_count == 0


async def test_an_account_set_while_running_works_and_a_removed_agent_cannot_register(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path) as server:
        data = json.loads(server.accounts.read_text())
        data["accounts"] = [a for a in data["accounts"] if a["agent_id"] != "bob"]
        server.accounts.write_text(json.dumps(data))
        status, _ = await sipp_register(server, tmp_path, "bob", final=401)
        assert status == 0
        set_password(server.accounts, TENANT, "bob", "helpline", "new-bob")
        status, log = await sipp_register(server, tmp_path, "bob", password="new-bob")
        assert status == 0, log
        await server.settle()
        assert server.engine_agent("bob").online


async def test_unregistering_the_phone_keeps_the_agent_online_on_another_device(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path) as server:
        carrier = server.app.state.helpline.carrier
        carrier.register_device(TENANT, VirtualDevice(agent_id="alice"))  # the sandbox's
        phone = free_port()
        status, _ = await sipp_register(server, tmp_path, "alice", contact_port=phone)
        assert status == 0
        status, _ = await sipp_register(server, tmp_path, "alice", expires=0, contact_port=phone)
        assert status == 0
        await server.settle()
        assert server.engine_agent("alice").online  # the sandbox device is still there
        carrier.unregister_device(TENANT, "alice")
        await server.settle()
        assert not server.engine_agent("alice").online


async def test_a_registration_that_expires_takes_the_agent_offline(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        status, _ = await sipp_register(server, tmp_path, "alice")
        assert status == 0
        await server.settle()
        assert server.engine_agent("alice").online
        # as if the phone's 600 s ran out: the sweep (every second) takes it offline
        clock = server.sip.stack.clock
        server.sip.stack.clock = lambda: clock() + 601
        await poll(lambda: not server.engine_agent("alice").online, "the binding to expire")


def _netstring(payload: dict[str, str]) -> bytes:
    data = json.dumps(payload).encode()
    return str(len(data)).encode() + b":" + data + b","


async def test_baresip_registers_over_ctrl_tcp_and_quits(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        home = tmp_path / "baresip"
        home.mkdir()
        (home / "accounts").write_text(
            f"<sip:{TENANT}_alice@127.0.0.1:{server.port};transport=udp>"
            f";auth_pass={PASSWORDS['alice']};regint=600\n"
        )
        control = free_port()
        (home / "config").write_text(
            f"sip_listen 127.0.0.1:{free_port()}\n"
            "module_path /usr/lib/baresip/modules\n"
            "module account.so\nmodule g711.so\nmodule ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{control}\n"
        )
        process = await asyncio.create_subprocess_exec(
            "baresip",
            "-f",
            str(home),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await poll(lambda: server.engine_agent("alice").online, "baresip to register")
            _, writer = await _connect(control)
            writer.write(_netstring({"command": "quit", "token": "q"}))
            await writer.drain()
            writer.close()
            await asyncio.wait_for(process.wait(), timeout=10)
            # baresip unregisters (Expires: 0) as it quits
            await poll(lambda: not server.engine_agent("alice").online, "baresip to unregister")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    for _ in range(100):
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("baresip's ctrl_tcp never listened")
