"""One `Settings` object: defaults, then a file, then `HELPLINE_*` environment, read once.

HELPLINE_DATABASE_URL=postgresql+asyncpg://localhost/helpline helpline serve
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./helpline.db"

# Standard Webhooks' suggested schedule: right away, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
DEFAULT_RETRY_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class SipTrunkSettings(BaseModel):
    """A carrier's trunk: INVITEs from `addresses` are calls to `tenant_id`'s numbers.
    With `proxy`, outbound calls leave through it (telephony/sip/outbound.py)."""

    name: str = "trunk"
    tenant_id: str
    addresses: list[str]
    proxy: str | None = None  # "host" or "host:port" (5060): where outbound INVITEs go
    username: str | None = None  # digest credentials the carrier challenges for
    password: str | None = None
    realm: str | None = None  # answer challenges of this realm only (default: any)
    from_domain: str | None = None  # the From host (default: our SIP host)
    transport: Literal["udp", "tcp", "tls"] = "udp"  # tls: the proxy's port defaults to 5061
    tls_ca_file: str | None = None  # PEM CAs the carrier's certificate is verified against
    prefix: str = Field(default="", pattern=r"^[0-9+*#]*$")  # dialled before every number

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value is not None:
            host, colon, port = value.partition(":")
            if not host or (colon and (not port.isdigit() or not 0 < int(port) < 65536)):
                raise ValueError("proxy must be host or host:port (port 1-65535)")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SipTrunkSettings:
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise ValueError(f"{missing} is required with the other digest credential")
        if self.tls_ca_file is not None and (self.transport != "tls" or not self.proxy):
            # it is only read to verify the proxy over TLS: ignoring it would hide a mistake
            raise ValueError(
                f"tls_ca_file is for a TLS trunk's proxy; trunk {self.name!r} has "
                f"transport {self.transport}" + ("" if self.proxy else " and no proxy")
            )
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPLINE_", env_file=None, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None  # how clients reach this server; default http://host:port
    jwt_secret: str = Field(default="", description="HS256 key for agent access tokens")
    access_token_ttl_s: float = 3600.0  # short-lived JWTs for agent clients (seed 000 Step 3)
    session_ttl_s: float = 10 * 3600.0  # agent login sessions: 8-12 h (seed 002 "Login")
    sessions_per_agent: int = 5  # older sessions stop working beyond this (seed 002)
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_timeout_s: float = 10.0
    outbox_poll_s: float = 0.5
    router_timeout_s: float = 3.0
    # SIP (issue 7): off unless a port is given (`helpline serve` gives 5060 unless told 0)
    sip_port: int | None = None
    sip_port_required: bool = True  # False: a port already taken logs an error, serves on
    sip_host: str | None = None  # default: `host`
    sip_public_host: str | None = None  # what Via, Contact and SDP say; default: sip_host
    sip_realm: str = "helpline"  # the digest realm; phones' HA1s are per realm
    # challenges offered, in order; Debian's baresip 1.0 fails on any SHA-256 one
    sip_digest_algorithms: list[str] = Field(default_factory=lambda: ["MD5"])
    sip_accounts_file: str = "helpline-sip-accounts.json"  # `helpline sip-account set`
    # JSON: [{"name": "carrier", "tenant_id": "demo", "addresses": ["203.0.113.0/24"]}]
    sip_trunks: list[SipTrunkSettings] = Field(default_factory=list)
    sip_trusted: list[str] = Field(default_factory=list)  # no abuse limits (load tests)
    # SIP over TLS (RFC 3261 26; 5061 is its usual port): off unless a port is given
    sip_tls_port: int | None = Field(default=None, ge=0, le=65535)
    sip_tls_cert: str | None = None  # PEM certificate chain the TLS listener presents
    sip_tls_key: str | None = None  # its PEM private key
    # no RTP from either side of an answered SIP call for this long ends it
    sip_media_timeout_s: float = Field(default=60.0, gt=0, le=86400)
    # new SIP calls get 503 while the event loop is this late (telephony/sip/overload.py)
    sip_overload_lag_ms: int = Field(default=200, ge=0, le=60_000)  # 0: never
    # browser calls (issue 6): prompt cache, uploaded audio and recordings live here
    media_dir: str = "helpline-media"
    # the public web caller (`/call`, no credentials): calls per source address per minute
    web_caller_per_minute: int = Field(default=20, ge=0)  # 0: no limit
    # live web calls at once, per source (an IPv6 source is its /64) and in all: each costs
    # CPU for as long as it lasts (about 8-15% of a core per bridged leg: bench/README.md)
    web_caller_max_per_source: int = Field(default=3, ge=1)
    web_caller_max_calls: int = Field(default_factory=lambda: 20 * (os.cpu_count() or 1), ge=1)
    # JSON {"tenant id": ["https://shop.example"]}: the pages that may embed a tenant's
    # click-to-call widget (checked against the websocket's Origin); a tenant not listed: any
    web_caller_origins: dict[str, list[str]] = Field(default_factory=dict)
    # ICE candidates on private/loopback addresses in an anonymous caller's offer: dropped
    # unless callers share the server's network (and the tests on one machine)
    web_allow_private_candidates: bool = False
    # processes running browser calls' media (aiortc, prompts, bridge, recording, DTMF);
    # 0: in the server process (telephony/webrtc/worker_adapter.py, bench/README.md)
    media_workers: int = Field(default=0, ge=0, le=256)
    # garbage collection on a clock, not on allocation counts (runtime/gc_pacing.py): short
    # pauses for a long-running server; `helpline serve` turns it on
    gc_pacing: bool = False
    # the longest voicemail message a caller may leave; then the call is ended
    voicemail_max_s: float = Field(default=120.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _sip_tls(self) -> Settings:
        if self.sip_tls_port is not None and not (self.sip_tls_cert and self.sip_tls_key):
            raise ValueError(
                "HELPLINE_SIP_TLS_PORT needs HELPLINE_SIP_TLS_CERT and HELPLINE_SIP_TLS_KEY"
            )
        if self.sip_tls_port and self.sip_tls_port == self.sip_port:
            raise ValueError(  # TCP listens on sip_port: TLS cannot have it too
                f"HELPLINE_SIP_TLS_PORT and HELPLINE_SIP_PORT are both {self.sip_port}: "
                "SIP over TLS needs a port of its own"
            )
        return self

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
