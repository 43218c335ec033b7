"""Outbound trunk settings (HELPLINE_SIP_TRUNKS): what a trunk with a `proxy` becomes, and
each bad value refused with an error naming its field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from helpline.settings import Settings
from helpline.telephony.sip.outbound import OutboundTrunk
from helpline.telephony.sip.settings import sip_config

BASE = {"name": "carrier", "tenant_id": "acme", "addresses": ["203.0.113.0/24"]}


def test_a_trunk_with_a_proxy_is_an_outbound_trunk(monkeypatch: pytest.MonkeyPatch) -> None:
    trunks = [
        {
            **BASE,
            "proxy": "sip.carrier.example:5070",
            "username": "acme",
            "password": "s3cret",
            "realm": "carrier",
            "from_domain": "acme.example",
            "transport": "tcp",
            "prefix": "00",
        },
        {**BASE, "name": "inbound-only", "tenant_id": "other"},
    ]
    monkeypatch.setenv("HELPLINE_SIP_TRUNKS", json.dumps(trunks))
    config = sip_config(Settings())
    assert [t.name for t in config.trunks] == ["carrier", "inbound-only"]  # both take calls
    (trunk,) = config.outbound  # only the one with a proxy sends them
    assert trunk == OutboundTrunk(
        name="carrier",
        tenant_id="acme",
        host="sip.carrier.example",
        port=5070,
        transport="TCP",
        username="acme",
        password="s3cret",
        realm="carrier",
        from_domain="acme.example",
        prefix="00",
    )
    assert trunk.request_uri("4930123") == "sip:004930123@sip.carrier.example:5070;transport=tcp"


def test_the_proxy_port_defaults_to_5060() -> None:
    (trunk,) = sip_config(Settings(sip_trunks=[{**BASE, "proxy": "192.0.2.7"}])).outbound
    assert (trunk.host, trunk.port, trunk.transport) == ("192.0.2.7", 5060, "UDP")
    assert trunk.request_uri("42") == "sip:42@192.0.2.7:5060"


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"proxy": "carrier:0"}, "proxy", "host:port"),
        ({"proxy": "carrier:sip"}, "proxy", "host:port"),
        ({"proxy": ":5060"}, "proxy", "host:port"),
        ({"transport": "sctp"}, "transport", "udp"),
        ({"prefix": "9a"}, "prefix", "pattern"),
        ({"username": "acme"}, None, "password is required"),
        ({"password": "s3cret"}, None, "username is required"),
    ],
)
def test_bad_trunk_settings_name_the_field(
    extra: dict[str, Any], field: str | None, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(sip_trunks=[{**BASE, **extra}])
    (error,) = caught.value.errors()
    assert error["loc"][:2] == ("sip_trunks", 0)
    if field is not None:
        assert error["loc"][2:] == (field,)
    assert words in error["msg"]
