"""One agent presence from several sources (routing type 1, seed 000 Step 3a).

The engine keeps one `online` flag per agent. The SIP adapter sits in front of the other
adapters (the browser's softphone, the sandbox's devices), which report their own presence.
If each source's event went straight to the engine, a phone unregistering would put offline
an agent whose softphone is still open. So the SIP adapter sees every presence event the
adapters behind it post, and the engine hears the OR of the two: SIP bindings, and whatever
the others last said. An agent line (seed 003, `agent_lines`) is no presence: it carries
only its campaign's callouts, so queues must not count the agent reachable through it.
"""

from __future__ import annotations

from collections.abc import Callable

Key = tuple[str, str]  # (tenant id, agent id)
Announce = Callable[[str, str, bool], None]  # (tenant id, agent id, online)


class PresenceMerger:
    def __init__(self, announce: Announce) -> None:
        self._announce = announce
        self._sip: set[Key] = set()
        self._others: set[Key] = set()

    def online(self, key: Key) -> bool:
        return key in self._sip or key in self._others

    def _set(self, which: set[Key], key: Key, online: bool) -> None:
        before = self.online(key)
        if online:
            which.add(key)
        else:
            which.discard(key)
        after = self.online(key)
        if after != before:
            self._announce(key[0], key[1], after)

    def sip_changed(self, tenant_id: str, agent_id: str, online: bool) -> None:
        self._set(self._sip, (tenant_id, agent_id), online)

    def others_changed(self, tenant_id: str, agent_id: str, online: bool) -> None:
        """An adapter behind us changed the agent's presence (it says online or offline for
        all of its own sources together)."""
        self._set(self._others, (tenant_id, agent_id), online)
