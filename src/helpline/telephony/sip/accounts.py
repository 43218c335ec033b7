"""Agents' SIP phone accounts: who may register, and the HA1 digests that prove it.

An account's user name is `projectId_userId` (seed 000 Step 3d): `{tenant_id}_{agent_id}`.
Where its password lives, and why there: a JSON file (`HELPLINE_SIP_ACCOUNTS_FILE`, written by
`helpline sip-account set`), holding per account the tenant, the agent and one HA1 per digest
algorithm (RFC 7616 section 5.2: `H(username:realm:password)`), never the password. Not the
center document, because every API client that may read the configuration would read the
phones' secrets with it; not a new store table, because a phone secret is deployment
configuration like the trunks' allow-list, and the file keeps the SIP adapter independent of
the store (pyproject's independence contract). The file is re-read when it changes, so an
account set while the server runs works at the phone's next REGISTER.

An account is usable only while its agent exists in the tenant's center (`agent_exists`), so
a removed agent's phone can no longer register.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpline.sip.auth import DigestAlgorithm, stored_ha1s
from helpline.sip.registrar import SipAccount, account_username

AgentExists = Callable[[str, str], bool]  # (tenant id, agent id) -> the agent is in the center


@dataclass(frozen=True, slots=True)
class StoredAccount:
    account: SipAccount
    realm: str
    ha1: dict[DigestAlgorithm, str]


def _load(path: Path) -> dict[str, StoredAccount]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    found: dict[str, StoredAccount] = {}
    for entry in data.get("accounts", []):
        account = SipAccount(tenant_id=str(entry["tenant_id"]), agent_id=str(entry["agent_id"]))
        ha1 = {DigestAlgorithm(name): str(value) for name, value in entry["ha1"].items()}
        found[account.username] = StoredAccount(account, str(entry["realm"]), ha1)
    return found


def set_password(path: Path, tenant_id: str, agent_id: str, realm: str, password: str) -> None:
    """Create or replace an account's HA1s; the file is replaced atomically (0600)."""
    if not password:
        raise ValueError("the SIP password must not be empty")
    username = account_username(tenant_id, agent_id)
    entries: list[dict[str, Any]] = []
    if path.exists():
        old = json.loads(path.read_text("utf-8")).get("accounts", [])
        entries = [e for e in old if account_username(e["tenant_id"], e["agent_id"]) != username]
    ha1 = {str(a): v for a, v in stored_ha1s(username, realm, password).items()}
    entries.append({"tenant_id": tenant_id, "agent_id": agent_id, "realm": realm, "ha1": ha1})
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".sip-accounts-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump({"accounts": entries}, out, indent=1)
    os.replace(temporary, path)  # mkstemp made it 0600: only the server's user reads it


class AccountFile:
    """The accounts of `path`, re-read when its modification time changes."""

    def __init__(self, path: Path | None, agent_exists: AgentExists) -> None:
        self.path = path
        self.agent_exists = agent_exists
        self._accounts: dict[str, StoredAccount] = {}
        self._stamp: tuple[int, int] | None = None

    def _current(self) -> dict[str, StoredAccount]:
        if self.path is None:
            return {}
        try:
            stat = self.path.stat()
        except OSError:
            self._accounts, self._stamp = {}, None
            return self._accounts
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._accounts = _load(self.path)
            except (OSError, ValueError, KeyError, TypeError):
                return self._accounts  # a half-written or broken file: keep what we had
            self._stamp = stamp
        return self._accounts

    def account(self, username: str) -> SipAccount | None:
        """The registrar's `AccountLookup`."""
        stored = self._current().get(username)
        if stored is None:
            return None
        account = stored.account
        return account if self.agent_exists(account.tenant_id, account.agent_id) else None

    def ha1(self, username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        """The authenticator's `HA1Lookup`."""
        stored = self._current().get(username)
        if stored is None or stored.realm != realm:
            return None
        if not self.agent_exists(stored.account.tenant_id, stored.account.agent_id):
            return None
        return stored.ha1.get(algorithm)
