"""The SIP adapter's configuration from the server's `Settings` (HELPLINE_SIP_*).

TLS material is loaded here, when the server starts, so a missing or unreadable file is a
`ConfigError` naming its setting rather than a failure on the first call.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from helpline.core.errors import ConfigError
from helpline.settings import Settings, SipTrunkSettings
from helpline.sip.auth import DigestAlgorithm
from helpline.telephony.sip.adapter import SipConfig, Trunk
from helpline.telephony.sip.outbound import OutboundTrunk, parse_proxy
from helpline.telephony.sip.overload import OverloadPolicy
from helpline.telephony.sip.transport import TlsOptions

TLS_DEFAULT_PORT = 5061  # RFC 3261 26.2.1 (and 19.1.2)


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
        tls=tls_options(settings),
        media_timeout=settings.sip_media_timeout_s,
        overload=OverloadPolicy(max_lag_s=settings.sip_overload_lag_ms / 1000),
    )


def tls_options(settings: Settings) -> TlsOptions | None:
    """The TLS listener's certificate and the trunks' CAs; None when nothing uses TLS.
    Connections are per host, so trunks on one host with their own CA files share a
    context that trusts each of those CAs (never one trunk's CAs silently replacing
    another's)."""
    ca_files: dict[str, dict[str, str]] = {}  # host -> {CA file: the first trunk naming it}
    for trunk in settings.sip_trunks:
        if trunk.proxy and trunk.transport == "tls" and trunk.tls_ca_file:
            host = parse_proxy(trunk.proxy)[0]
            ca_files.setdefault(host, {}).setdefault(trunk.tls_ca_file, trunk.name)
    clients = {host: client_context(files) for host, files in ca_files.items()}
    if settings.sip_tls_port is None:
        return TlsOptions(clients=clients) if clients else None
    assert settings.sip_tls_cert and settings.sip_tls_key  # `Settings` checked both are given
    return TlsOptions(
        port=settings.sip_tls_port,
        server=server_context(settings.sip_tls_cert, settings.sip_tls_key),
        clients=clients,
    )


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    for setting, path in (("sip_tls_cert", cert_file), ("sip_tls_key", key_file)):
        if not Path(path).is_file():
            raise ConfigError("HELPLINE_" + setting.upper(), f"no such file: {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError, ValueError) as error:
        raise ConfigError(
            "HELPLINE_SIP_TLS_CERT", f"cannot use {cert_file} with key {key_file}: {error}"
        ) from error
    return context


def client_context(ca_files: dict[str, str]) -> ssl.SSLContext:
    """Verification on, against the trunks' CA files only (the carrier's own CAs);
    `ca_files` maps each file to the trunk an error about it names."""
    context: ssl.SSLContext | None = None
    for ca_file, trunk_name in ca_files.items():
        try:
            if context is None:  # given a CA file, it loads none of the system's
                context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
            else:
                context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as error:
            raise ConfigError(
                f"HELPLINE_SIP_TRUNKS[{trunk_name}].tls_ca_file",
                f"cannot read CAs from {ca_file}: {error}",
            ) from error
    assert context is not None, "no CA file given"
    return context


def outbound_trunk(trunk: SipTrunkSettings) -> OutboundTrunk:
    """A trunk with a `proxy` (checked by `SipTrunkSettings`) as outbound calls use it."""
    assert trunk.proxy is not None
    host, port = parse_proxy(trunk.proxy)
    if trunk.transport == "tls" and ":" not in trunk.proxy:
        port = TLS_DEFAULT_PORT
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
