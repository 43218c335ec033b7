"""Agents' SIP accounts: `helpline sip-account set` stores HA1s only, and the account file
answers the registrar and the authenticator only for agents that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpline.cli import main
from helpline.sip.auth import DigestAlgorithm, compute_ha1
from helpline.telephony.sip import AccountFile


def test_sip_account_set_stores_ha1s_not_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "accounts.json"
    monkeypatch.setenv("HELPLINE_SIP_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("HELPLINE_SIP_REALM", "example.com")
    assert main(["sip-account", "set", "acme", "alice", "--password", "s3cret-pw"]) == 0
    text = path.read_text()
    assert "s3cret-pw" not in text
    assert path.stat().st_mode & 0o077 == 0  # nobody but the server's user reads it
    accounts = AccountFile(path, lambda tenant, agent: (tenant, agent) == ("acme", "alice"))
    for algorithm in DigestAlgorithm:
        expected = compute_ha1(algorithm, "acme_alice", "example.com", "s3cret-pw")
        assert accounts.ha1("acme_alice", "example.com", algorithm) == expected
    assert accounts.ha1("acme_alice", "other-realm", DigestAlgorithm.MD5) is None
    found = accounts.account("acme_alice")
    assert found is not None and (found.tenant_id, found.agent_id) == ("acme", "alice")


def test_an_account_of_a_removed_agent_answers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "accounts.json"
    monkeypatch.setenv("HELPLINE_SIP_ACCOUNTS_FILE", str(path))
    agents = {("acme", "bob")}
    accounts = AccountFile(path, lambda tenant, agent: (tenant, agent) in agents)
    assert accounts.account("acme_bob") is None  # no file yet
    assert main(["sip-account", "set", "acme", "bob", "--password", "pw"]) == 0
    assert accounts.account("acme_bob") is not None  # the new file is read
    agents.clear()  # bob left the center
    assert accounts.account("acme_bob") is None
    assert accounts.ha1("acme_bob", "helpline", DigestAlgorithm.MD5) is None
    assert json.loads(path.read_text())["accounts"][0]["agent_id"] == "bob"
