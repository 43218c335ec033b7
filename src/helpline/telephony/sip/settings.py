"""The SIP adapter's configuration from the server's `Settings` (HELPLINE_SIP_*)."""

from __future__ import annotations

from pathlib import Path

from helpline.settings import Settings, SipTrunkSettings
from helpline.sip.auth import DigestAlgorithm
from helpline.telephony.sip.adapter import SipConfig, Trunk
from helpline.telephony.sip.outbound import OutboundTrunk, parse_proxy


def sip_config(settings: Settings) -> SipConfig:
    return SipConfig(
        host=settings.sip_host or settings.host,
        port=settings.sip_port or 0,
        public_host=settings.sip_public_host,
        realm=settings.sip_realm,
        accounts_file=Path(settings.sip_accounts_file).resolve(),
        trunks=tuple(Trunk(t.name, t.tenant_id, tuple(t.addresses)) for t in settings.sip_trunks),
        trusted=tuple(settings.sip_trusted),
        algorithms=tuple(DigestAlgorithm(name) for name in settings.sip_digest_algorithms),
        outbound=tuple(outbound_trunk(t) for t in settings.sip_trunks if t.proxy),
    )


def outbound_trunk(trunk: SipTrunkSettings) -> OutboundTrunk:
    """A trunk with a `proxy` (checked by `SipTrunkSettings`) as outbound calls use it."""
    assert trunk.proxy is not None
    host, port = parse_proxy(trunk.proxy)
    return OutboundTrunk(
        name=trunk.name,
        tenant_id=trunk.tenant_id,
        host=host,
        port=port,
        transport=trunk.transport.upper(),
        username=trunk.username,
        password=trunk.password,
        realm=trunk.realm,
        from_domain=trunk.from_domain,
        prefix=trunk.prefix,
    )
