"""`helpline serve`'s SIP options (issue 7) and how a bad setting is reported: the options
override their HELPLINE_SIP_* settings, and anything wrong (a value out of range, TLS
without its certificate, a file that cannot be read) is a `ConfigError` naming the setting
and its option before anything listens."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from helpline.core.errors import ConfigError
from helpline.settings import Settings
from helpline.telephony.sip.settings import sip_config

DEFAULT_SIP_PORT = 5060

# serve's SIP options: the setting each overrides (and names in an error about it)
SIP_OPTIONS = {
    "sip_tls_port": "--sip-tls-port",
    "sip_tls_cert": "--sip-tls-cert",
    "sip_tls_key": "--sip-tls-key",
    "sip_media_timeout_s": "--sip-media-timeout",
    "sip_overload_lag_ms": "--sip-overload-lag",
}


def sip_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """`settings` with serve's SIP options applied and checked (TLS files loaded): a bad
    value is a `ConfigError` naming the setting and the option, before anything starts."""
    # SIP on 5060 unless told otherwise (issue 7); --sip-port 0 turns it off
    sip_port = args.sip_port if args.sip_port is not None else settings.sip_port
    update: dict[str, Any] = {
        "sip_port": DEFAULT_SIP_PORT if sip_port is None else sip_port,
        "sip_port_required": sip_port is not None,  # the default may be taken: serve on
        "sip_host": args.sip_host or settings.sip_host,
    }
    for name in SIP_OPTIONS:
        if getattr(args, name, None) is not None:
            update[name] = getattr(args, name)
    try:
        checked = Settings.model_validate(settings.model_dump() | update)
    except ValidationError as error:
        raise settings_error(error) from error
    if checked.sip_port:
        sip_config(checked)  # loads the TLS certificate and CA files: errors now, not later
    return checked


def settings_error(error: ValidationError) -> ConfigError:
    """The first problem, named as its HELPLINE_* variable (and serve's option if any); a
    check across settings (no field of its own) names the fields in its message."""
    first = error.errors()[0]
    if not first["loc"]:
        return ConfigError("settings", str(first["msg"]).removeprefix("Value error, "))
    name = str(first["loc"][0])
    option = f" ({SIP_OPTIONS[name]})" if name in SIP_OPTIONS else ""
    return ConfigError(f"HELPLINE_{name.upper()}{option}", str(first["msg"]))


def add_sip_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--sip-port",
        type=int,
        metavar="PORT",
        help="SIP over UDP and TCP for trunks and agents' phones (default $HELPLINE_SIP_PORT "
        "or 5060; 0 turns SIP off)",
    )
    serve.add_argument("--sip-host", help="address SIP listens on (default: --host)")
    serve.add_argument(
        "--sip-tls-port",
        type=int,
        metavar="PORT",
        help="SIP over TLS too, on this port (usually 5061; default $HELPLINE_SIP_TLS_PORT, "
        "else no TLS); needs --sip-tls-cert and --sip-tls-key",
    )
    serve.add_argument(
        "--sip-tls-cert",
        metavar="FILE",
        help="PEM certificate (chain) the SIP TLS listener presents ($HELPLINE_SIP_TLS_CERT)",
    )
    serve.add_argument(
        "--sip-tls-key",
        metavar="FILE",
        help="PEM private key of --sip-tls-cert ($HELPLINE_SIP_TLS_KEY)",
    )
    serve.add_argument(
        "--sip-media-timeout",
        type=float,
        metavar="SECONDS",
        dest="sip_media_timeout_s",
        help="end an answered SIP call after this long with no RTP from either side "
        "(default $HELPLINE_SIP_MEDIA_TIMEOUT_S or 60)",
    )
    serve.add_argument(
        "--sip-overload-lag",
        type=int,
        metavar="MS",
        dest="sip_overload_lag_ms",
        help="refuse new SIP calls (503, Retry-After) while the server is this far behind, "
        "so the calls in progress keep working; 0: never (default "
        "$HELPLINE_SIP_OVERLOAD_LAG_MS or 200)",
    )
