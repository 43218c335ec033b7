"""The SIP settings of `helpline serve` (HELPLINE_SIP_* and their options): the media
timeout is a setting that reaches every SIP call, and a bad value stops `serve` with an
error naming the setting and its option, before anything listens."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sipnet_rtp import FRAME, MEDIA_CENTER, RtpCaller, observe
from sipnet_support import TENANT, poll, sip_server
from sipnet_tls import make_certificates

from helpline.cli import main
from helpline.core import events as ev
from helpline.core.errors import ConfigError
from helpline.settings import Settings
from helpline.telephony.sip.settings import sip_config


async def test_a_call_whose_rtp_stops_is_ended_after_the_configured_timeout(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER, sip_media_timeout_s=1.5) as server:
        assert server.sip.b2bua.media_timeout == 1.5
        assert server.sip.outbound.media_timeout == 1.5  # callouts' bridges too
        events = observe(server.sip)
        caller = await RtpCaller.open(server.port, "100")  # queued: nobody is online
        try:
            await caller.call()
            caller.send_audio(np.zeros(FRAME * 25, dtype=np.int16), loop=False)  # 0.5 s of RTP
            await asyncio.sleep(0.3)  # while it flows, the call stays up
            assert not [e for _, e in events if isinstance(e, ev.CallHungUp)]
            caller.stop_sending()
            stopped = time.monotonic()
            bye = await caller.expect_bye(timeout=15)
            assert bye.method == "BYE"
            assert time.monotonic() - stopped >= 1.5 - 0.6  # not before the timeout (less
            # the up to 0.5 s of audio that may still have been queued when it was stopped)
            (hung_up,) = [e for _, e in events if isinstance(e, ev.CallHungUp)]
            assert (hung_up.party, hung_up.reason) == (ev.Party.SYSTEM, "media_timeout")

            async def recorded() -> bool:
                return await server.store.records.count_records(TENANT) == 1

            await poll(recorded, "the call record")
            (record,) = (await server.store.records.list_records(TENANT)).items
            assert (record.disconnected_by, record.end_reason) == ("system", "media_timeout")
            assert not server.sip.b2bua.calls
        finally:
            caller.close()


def test_the_media_timeout_defaults_to_60_s_and_reaches_the_sip_config() -> None:
    assert sip_config(Settings()).media_timeout == 60.0
    assert sip_config(Settings(sip_media_timeout_s=2.5)).media_timeout == 2.5


@pytest.mark.parametrize("value", [0, -1, "soon", 86401])
def test_a_bad_media_timeout_names_the_setting(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(sip_media_timeout_s=value)
    assert caught.value.errors()[0]["loc"] == ("sip_media_timeout_s",)


def _serve_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["serve", "--sip-port", "0", *argv]) == 2  # before uvicorn starts
    return " ".join(capsys.readouterr().err.split())


def test_serve_refuses_a_bad_media_timeout_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = _serve_error(["--sip-media-timeout", "0"], capsys)
    assert "HELPLINE_SIP_MEDIA_TIMEOUT_S (--sip-media-timeout)" in error
    assert "greater than 0" in error


def test_serve_refuses_a_bad_media_timeout_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_SIP_MEDIA_TIMEOUT_S", "never")
    error = _serve_error([], capsys)
    assert "HELPLINE_SIP_MEDIA_TIMEOUT_S" in error and "valid number" in error


def test_serve_refuses_tls_without_a_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    error = _serve_error(["--sip-tls-port", "5061"], capsys)
    assert "HELPLINE_SIP_TLS_CERT" in error and "HELPLINE_SIP_TLS_KEY" in error


def test_serve_refuses_a_missing_or_mismatched_tls_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_certificates(tmp_path)
    missing = ["--sip-tls-port", "5061", "--sip-tls-cert", str(tmp_path / "none.pem")]
    assert main(["serve", "--sip-port", "5099", *missing, "--sip-tls-key", str(good.key)]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert f"HELPLINE_SIP_TLS_CERT: no such file: {tmp_path / 'none.pem'}" in error
    (tmp_path / "other").mkdir()
    other = make_certificates(tmp_path / "other")  # a key that is not the certificate's
    swapped = ["--sip-tls-cert", str(good.cert), "--sip-tls-key", str(other.key)]
    assert main(["serve", "--sip-port", "5099", "--sip-tls-port", "5061", *swapped]) == 2
    assert "HELPLINE_SIP_TLS_CERT: cannot use" in " ".join(capsys.readouterr().err.split())


def test_a_tls_trunk_s_proxy_port_defaults_to_5061_and_its_uri_says_tls(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    trunk = {
        "tenant_id": TENANT,
        "addresses": ["192.0.2.7"],
        "proxy": "192.0.2.7",
        "transport": "tls",
        "tls_ca_file": str(certificates.ca),
    }
    config = sip_config(Settings(sip_trunks=[trunk]))
    (outbound,) = config.outbound
    assert (outbound.port, outbound.transport) == (5061, "TLS")
    assert outbound.request_uri("42") == "sip:42@192.0.2.7:5061;transport=tls"
    assert config.tls is not None and "192.0.2.7" in config.tls.clients
    assert config.tls.port is None  # no listener asked for: TLS out only


def test_a_tls_trunk_with_an_unreadable_ca_file_names_it(tmp_path: Path) -> None:
    trunk = {
        "name": "carrier",
        "tenant_id": TENANT,
        "addresses": ["192.0.2.7"],
        "proxy": "192.0.2.7",
        "transport": "tls",
        "tls_ca_file": str(tmp_path / "missing.pem"),
    }
    with pytest.raises(ConfigError) as caught:
        sip_config(Settings(sip_trunks=[trunk]))
    assert "HELPLINE_SIP_TRUNKS[carrier].tls_ca_file" in str(caught.value)
