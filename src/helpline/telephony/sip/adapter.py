"""The `sip` telephony adapter: trunks' calls and agents' SIP phones (issue 7).

It implements the `Telephony` port in front of the other adapters (`fallback`: the browser
adapter, itself in front of the sandbox carrier): every command goes to them too, and the
commands about a SIP call are carried out here by the B2BUA (`calls.py`). It is the
transaction user of the stack (`stack.py`): OPTIONS is answered 200 with what we allow;
REGISTER goes through digest authentication and the registrar (whose presence changes are
merged with the other adapters', `presence.py`); INVITE from a trunk's address is a call to
the tenant the trunk belongs to (from anywhere else: 403); a re-INVITE, BYE, ACK, CANCEL and
INFO (keys as application/dtmf-relay) go to the B2BUA; any other method gets 405.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.ports import PostEvent, PostLineEvent, Telephony, TelephonyCommand
from helpline.sip.auth import DigestAlgorithm, DigestAuthenticator, DigestPolicy, Unauthenticated
from helpline.sip.limits import AbuseLimits, LimitsPolicy
from helpline.sip.message import Request, Response, make_response
from helpline.sip.registrar import (
    PhonePresenceChanged,
    RegisterReply,
    Registrar,
    RegistrarPolicy,
    handle_register,
)
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import TerminationReason
from helpline.sip.transaction_layer import Transaction
from helpline.telephony.sip.accounts import AccountFile, AgentExists
from helpline.telephony.sip.agent_lines import SipAgentLines
from helpline.telephony.sip.browser import WebSipLegs
from helpline.telephony.sip.calls import B2BUA, RecordingSink
from helpline.telephony.sip.outbound import OutboundTrunk
from helpline.telephony.sip.outbound_calls import OutboundCalls
from helpline.telephony.sip.overload import LoadGauge, OverloadPolicy
from helpline.telephony.sip.presence import PresenceMerger
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.transport import Source, TlsOptions
from helpline.telephony.sip.voicemail import SipVoicemail, web_mailbox
from helpline.telephony.webrtc.adapter import WebRtcTelephony
from helpline.telephony.webrtc.prompts import PromptLibrary

log = logging.getLogger("helpline.sip")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO"
SWEEP_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Trunk:
    """A carrier's trunk: the addresses its INVITEs come from, and whose numbers they call."""

    name: str
    tenant_id: str
    addresses: tuple[str, ...]  # addresses or networks ("203.0.113.0/24")


@dataclass(frozen=True, slots=True, kw_only=True)
class SipConfig:
    host: str = "127.0.0.1"  # where to listen (UDP and TCP)
    port: int = 5060  # 0: any free port
    public_host: str | None = None  # what Via, Contact and SDP say; default: host
    realm: str = "helpline"
    accounts_file: Path | None = None
    trunks: tuple[Trunk, ...] = ()
    outbound: tuple[OutboundTrunk, ...] = ()  # trunks with a proxy: calls leave through them
    trusted: tuple[str, ...] = ()  # besides the trunks: no abuse limits (a load test's peers)
    secret: bytes = field(default_factory=lambda: os.urandom(32))  # signs digest nonces
    # Debian's baresip fails on any SHA-256 challenge, so MD5 alone by default; SHA-256 first
    # for phones that do it (RFC 8760) is a setting away.
    algorithms: tuple[DigestAlgorithm, ...] = (DigestAlgorithm.MD5,)
    limits: LimitsPolicy | None = None
    # No RTP from either side of an answered call for this long ends it (a phone gone dark).
    media_timeout: float = 60.0
    tls: TlsOptions | None = None  # a TLS listener and how TLS peers are verified
    # Prompts, uploaded audio, recordings: the WebRTC adapter's folder when it is behind us.
    media_dir: Path | None = None
    # New calls get 503 while the event loop is this late (overload.py); 0: never.
    overload: OverloadPolicy = field(default_factory=OverloadPolicy)

    def advertised_host(self) -> str:
        if self.public_host:
            return self.public_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host


class SipTelephony:
    """Implements `Telephony`; `start` opens the listeners, `stop` closes them."""

    def __init__(
        self, fallback: Telephony, config: SipConfig, *, agent_exists: AgentExists
    ) -> None:
        self.fallback = fallback
        self.config = config
        trusted = tuple(a for t in config.trunks for a in t.addresses) + config.trusted
        policy = config.limits or LimitsPolicy()
        self.limits = AbuseLimits(replace(policy, trusted=policy.trusted + trusted))
        self.stack = SipStack(self.limits)
        self.stack.user_agent = self
        self.accounts = AccountFile(config.accounts_file, agent_exists)
        self.registrar = Registrar(RegistrarPolicy(), self.accounts.account)
        self.authenticator = DigestAuthenticator(
            DigestPolicy(realm=config.realm, secret=config.secret, algorithms=config.algorithms)
        )
        self._trunks = [
            (trunk, [ipaddress.ip_network(a, strict=False) for a in trunk.addresses])
            for trunk in config.trunks
        ]
        self._post: PostEvent | None = None
        self.presence = PresenceMerger(self._announce)
        host = config.advertised_host()
        self._library: PromptLibrary | None = None
        self.b2bua = B2BUA(
            self.stack,
            self.registrar,
            self._emit,
            host=host,
            media_host=host,
            prompts=self._prompts,
            recordings=self._recording_path,
            on_recording=self._recording_sink,
            media_timeout=config.media_timeout,
        )
        self.b2bua.voicemail = SipVoicemail(self.media_dir, web_mailbox(self._web))
        self._sweeper: asyncio.TimerHandle | None = None
        self.load = LoadGauge(config.overload)  # new calls refused while far behind
        self.outbound = OutboundCalls(  # callouts, callbacks, routing type 2, external numbers
            self.stack, self.b2bua, self.registrar, self._emit, host=host, trunks=config.outbound
        )
        self.outbound.media_timeout = timeout = config.media_timeout
        self.agent_lines = SipAgentLines(self.outbound, self._emit, prompts=self._prompts)
        self.browser = WebSipLegs(  # browser callers' SIP legs; SIP callers' browser agents
            self.outbound, self._web, self._emit, media_host=host, media_timeout=timeout
        )

    # -- media shared with the WebRTC adapter (one prompt cache, one recordings folder) ------

    def _web(self) -> WebRtcTelephony | None:
        return self.fallback if isinstance(self.fallback, WebRtcTelephony) else None

    def media_dir(self) -> Path:
        web = self._web()
        if web is not None and self.config.media_dir is None:
            return web.media_dir  # read each time: the app may point it elsewhere at start
        return self.config.media_dir or Path(tempfile.gettempdir()) / "helpline-media"

    def _prompts(self) -> PromptLibrary:
        web = self._web()
        if web is not None and self.config.media_dir is None:
            return web.prompts
        if self._library is None:
            self._library = PromptLibrary(self.media_dir())
        return self._library

    def _recording_path(self, tenant_id: str, call_id: str) -> Path:
        return self.media_dir() / "recordings" / tenant_id / f"{call_id}.wav"

    def _recording_sink(self) -> RecordingSink | None:
        web = self._web()
        return web.on_recording if web is not None else None

    # -- the port --------------------------------------------------------------------------

    def attach(self, post: PostEvent) -> None:
        self._post = post
        self.fallback.attach(self._from_fallback)

    def listen_lines(self, listener: PostLineEvent) -> None:
        self.agent_lines.listener = listener  # agent lines (seed 003): see agent_lines.py
        self.fallback.listen_lines(listener)

    def _from_fallback(self, tenant_id: str, event: ev.Event) -> None:
        """The adapters behind us speak through here: their presence is merged with ours."""
        if isinstance(event, ev.AgentPresenceChanged):
            self.presence.others_changed(tenant_id, event.agent_id, event.online)
            return
        self._emit(tenant_id, event)

    def _emit(self, tenant_id: str, event: ev.Event) -> None:
        if self._post is None:
            raise RuntimeError("the sip adapter is not attached to a runtime")
        self._post(tenant_id, event)

    def _announce(self, tenant_id: str, agent_id: str, online: bool) -> None:
        self._emit(tenant_id, ev.AgentPresenceChanged(agent_id=agent_id, online=online))

    async def execute(self, tenant_id: str, command: TelephonyCommand) -> None:
        if await self.agent_lines.execute(tenant_id, command):  # lines over SIP (seed 003)
            return
        line_offer = isinstance(command, cmd.OfferCall) and command.agent_line
        if line_offer or isinstance(
            command, cmd.OpenAgentLine | cmd.HoldAgentLine | cmd.CloseAgentLine
        ):
            await self.fallback.execute(tenant_id, command)  # a sandbox device's line
            return
        if not await self.outbound.execute(tenant_id, command):  # True: carried over SIP only
            await self.fallback.execute(tenant_id, command)
        self.b2bua.execute(tenant_id, command)
        await self.browser.execute(tenant_id, command)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen; the port (useful with port 0)."""
        transports = self.stack.transports
        port = await transports.start(self.config.host, self.config.port, self.config.tls)
        self._schedule_sweep()
        self.load.start()
        log.info("SIP listening on %s:%d (UDP and TCP)", self.config.host, port)
        if transports.tls_port:
            log.info("SIP listening on %s:%d (TLS)", self.config.host, transports.tls_port)
        return port

    @property
    def port(self) -> int:
        return self.stack.transports.port

    async def stop(self) -> None:
        self.load.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.b2bua.close()
        if self.b2bua.voicemail is not None:  # the messages the closed calls ended are stored
            await self.b2bua.voicemail.drain()
        self.browser.close()
        self.agent_lines.close()
        self.outbound.close()
        await self.stack.close()

    def _schedule_sweep(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_EVERY_S, self._sweep)

    def _sweep(self) -> None:
        now = self.stack.clock()
        self._presence(self.registrar.sweep(now))
        self.limits.sweep(now)
        self.b2bua.sweep_media(now)
        self._schedule_sweep()

    def _presence(self, changes: tuple[PhonePresenceChanged, ...]) -> None:
        for change in changes:
            self.presence.sip_changed(change.tenant_id, change.agent_id, change.online)

    # -- the transaction user ------------------------------------------------------------------

    def on_request(self, transaction: ServerTransaction | None, request: Request) -> None:
        if self.outbound.dialer.on_request(transaction, request):  # within our outbound legs
            return
        if transaction is None:
            if request.method == "ACK":
                self.b2bua.on_ack(request)
            return
        method = request.method
        if method == "OPTIONS":
            response = make_response(request, 200, to_tag=secrets.token_hex(6))
            response.headers.add("Allow", ALLOW)
            response.headers.add("Accept", "application/sdp")
            response.headers.add("Supported", "")
            self.stack.respond(transaction, response)
        elif method == "REGISTER":
            self._register(transaction, request)
        elif method == "INVITE":
            self._invite(transaction, request)
        elif method == "BYE":
            self.b2bua.on_bye(transaction, request)
        elif method == "CANCEL":
            self._cancel(transaction, request)
        elif method == "INFO":
            self.b2bua.on_info(transaction, request)
        else:
            response = make_response(request, 405, to_tag=secrets.token_hex(6))
            response.headers.add("Allow", ALLOW)
            self.stack.respond(transaction, response)

    def on_response(self, transaction: Transaction | None, response: Response) -> None:
        if not self.outbound.dialer.on_response(transaction, response):
            self.b2bua.on_response(transaction, response)

    def on_failure(self, transaction: Transaction, reason: TerminationReason) -> None:
        if not self.outbound.dialer.on_failure(transaction):
            self.b2bua.on_failure(transaction)

    def _source(self, transaction: ServerTransaction) -> Source | None:
        return self.stack.source_of(transaction)

    def _register(self, transaction: ServerTransaction, request: Request) -> None:
        source = self._source(transaction)
        if source is None:
            return
        now = self.stack.clock()
        response, outcome = handle_register(
            request,
            registrar=self.registrar,
            authenticator=self.authenticator,
            lookup=self.accounts.ha1,
            source=str(source),
            now=now,
            entropy=os.urandom(12),
            to_tag=secrets.token_hex(6),
        )
        if isinstance(outcome, Unauthenticated) and outcome.reason.counts_as_failure:
            if self.limits.auth_failed(source.host, now) is not None:
                log.warning("SIP: %s banned after failed authentications", source.host)
        elif isinstance(outcome, RegisterReply):
            self._presence(outcome.events)
        self.stack.respond(transaction, response)

    def _reply(self, transaction: ServerTransaction, request: Request, status: int) -> None:
        self.stack.respond(transaction, make_response(request, status, to_tag=secrets.token_hex(6)))

    def trunk_of(self, host: str) -> Trunk | None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        for trunk, networks in self._trunks:
            if any(address in network for network in networks):
                return trunk
        return None

    def _invite(self, transaction: ServerTransaction, request: Request) -> None:
        if request.to.tag:  # a re-INVITE within a dialog (12.2.2), not a new call
            self.b2bua.on_reinvite(transaction, request)
            return
        source = self._source(transaction)
        trunk = self.trunk_of(source.host) if source is not None else None
        if source is None or trunk is None:
            # Calls come in through trunks only (their allow-list, issue 7 point 3).
            self._reply(transaction, request, 403)
            return
        if self.load.shedding():  # far behind: this call would sink the ones in progress
            self.load.refused += 1
            busy = make_response(request, 503, to_tag=secrets.token_hex(6))
            busy.headers.add("Retry-After", str(self.load.policy.retry_after_s))
            self.stack.respond(transaction, busy)
            return
        self.b2bua.on_invite(trunk.tenant_id, transaction, request, source)

    def _cancel(self, transaction: ServerTransaction, request: Request) -> None:
        invite = self.stack.layer.find_cancelled(request)
        if invite is None:
            self._reply(transaction, request, 481)
            return
        self.stack.respond(transaction, make_response(request, 200))
        self.b2bua.on_cancel(invite)
