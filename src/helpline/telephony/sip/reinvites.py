"""Re-INVITEs within our dialogs (RFC 3261 13.3.1.4, 14.1, 14.2): when one may be answered,
when ours is tried again, and our 2xx that waits for its ACK.

- Glare (14.2, `crossing`): a re-INVITE that arrives while an INVITE of ours on the dialog
  is in progress gets 491 Request Pending; one that arrives before we gave a final answer to
  an earlier INVITE of the peer's on the dialog gets 500 with a Retry-After of 0-10 s.
- Ours refused with 491 (14.1) is tried again after `retry_delay`: 2.1-4 s when we own the
  dialog's Call-ID (we sent its first INVITE), 0-2 s when the peer does, so the two sides
  stop crossing: the peer's retry comes first and is answered before ours goes out.
- Our 2xx to a re-INVITE (`AwaitedAcks`): the server transaction only carries it once
  (17.2.1; RFC 6026 keeps it in Accepted, which absorbs the INVITE's retransmissions), so
  the TU resends it over UDP at T1, 2*T1, ... capped at T2 until the ACK comes (13.3.1.4);
  with no ACK within 64*T1, over any transport (a lost ACK on a connection is still lost to
  us), the session ends: the owner's `on_no_ack` sends the BYE. The ACK is matched by its
  dialog (Call-ID, the peer's tag, ours) and its CSeq number, which is the re-INVITE's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from helpline.sip.message import Request, Response, make_response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import DEFAULT_TIMERS, TimerConfig
from helpline.telephony.sip.stack import SipStack

log = logging.getLogger("helpline.sip")

RETRY_AFTER_MAX_S = 10  # 14.2: "a randomly chosen value of between 0 and 10 seconds"
OWNER_RETRY_S = (2.1, 4.0)  # 14.1: we generated the dialog's Call-ID
OTHER_RETRY_S = (0.0, 2.0)  # 14.1: the peer did

# (Call-ID, the peer's tag, ours, CSeq number): an in-dialog INVITE and its ACK carry the same
AckKey = tuple[str, str, str, int]


def ack_key(request: Request) -> AckKey:
    """The key of a re-INVITE the peer sent, or of its ACK (12.2.1.1: the peer's tag is in
    From, ours in To; 13.2.2.4: the ACK repeats the INVITE's CSeq number)."""
    return (request.call_id, request.from_.tag or "", request.to.tag or "", request.cseq.number)


def crossing(
    invite: Request, *, ours_pending: bool, theirs_pending: bool, rng: random.Random
) -> Response | None:
    """The answer a re-INVITE gets at once because another INVITE on its dialog is in
    progress (14.2), or None when it may be handled."""
    if ours_pending:
        return make_response(invite, 491)
    if theirs_pending:
        refused = make_response(invite, 500)
        refused.headers.add("Retry-After", str(rng.randint(0, RETRY_AFTER_MAX_S)))
        return refused
    return None


def retry_delay(*, owner: bool, rng: random.Random) -> float:
    """How long to wait before sending again a re-INVITE that got 491 (14.1)."""
    low, high = OWNER_RETRY_S if owner else OTHER_RETRY_S
    return rng.uniform(low, high)


@dataclass(eq=False)
class _Awaited:
    transaction: ServerTransaction
    ok: Response
    on_no_ack: Callable[[], None]
    interval: float
    resend: asyncio.TimerHandle | None = None
    give_up: asyncio.TimerHandle | None = None
    sent: int = 1  # how many times the 2xx went out


class AwaitedAcks:
    """Our 2xx answers to peers' INVITEs and re-INVITEs not ACKed yet, by `ack_key`."""

    def __init__(self, stack: SipStack, timers: TimerConfig = DEFAULT_TIMERS) -> None:
        self.stack = stack
        self.timers = timers
        self._awaited: dict[AckKey, _Awaited] = {}

    def arrived(self, invite: Request) -> None:
        """A re-INVITE came: the peer could not start it while its earlier INVITE on the
        dialog was in progress (14.1), so our 2xx to that one reached it and only its ACK
        was lost; we stop resending that 2xx rather than end a call that is alive."""
        if not self._awaited:
            return
        call_id, theirs, ours, number = ack_key(invite)
        for key in [k for k in self._awaited if k[:3] == (call_id, theirs, ours)]:
            if key[3] < number:
                self._stop(key)

    def answered(
        self,
        transaction: ServerTransaction,
        ok: Response,
        *,
        reliable: bool,
        on_no_ack: Callable[[], None],
    ) -> None:
        """`ok` was just sent on `transaction` (an INVITE's or a re-INVITE's): keep it until
        its ACK. Keyed by the dialog's tags as the ACK has them: ours is in `ok`'s To, which
        an initial INVITE's own To lacks (12.1.1)."""
        invite = transaction.request
        key = (invite.call_id, invite.from_.tag or "", ok.to.tag or "", invite.cseq.number)
        self._stop(key)
        loop = asyncio.get_running_loop()
        awaited = _Awaited(transaction, ok, on_no_ack, self.timers.t1)
        awaited.give_up = loop.call_later(64 * self.timers.t1, self._no_ack, key)
        if not reliable:  # a connection carries it once (13.3.1.4 retransmits over UDP)
            awaited.resend = loop.call_later(awaited.interval, self._resend, key)
        self._awaited[key] = awaited

    def ack(self, ack: Request) -> bool:
        """An ACK arrived: True when it was for one of our 2xx answers to a re-INVITE."""
        key = ack_key(ack)
        if key not in self._awaited:
            return False
        self._stop(key)
        return True

    def drop(self, call_id: str) -> None:
        """The dialog ended (a BYE either way): nothing more to resend, nobody to BYE."""
        if not self._awaited:
            return
        for key in [k for k in self._awaited if k[0] == call_id]:
            self._stop(key)

    def sent(self, invite: Request) -> int:
        """How many times our 2xx to `invite` went out, while its ACK is awaited (0: none)."""
        awaited = self._awaited.get(ack_key(invite))
        return awaited.sent if awaited is not None else 0

    def __len__(self) -> int:
        return len(self._awaited)

    def close(self) -> None:
        for key in list(self._awaited):
            self._stop(key)

    def _resend(self, key: AckKey) -> None:
        awaited = self._awaited.get(key)
        if awaited is None:
            return
        # Through the transaction, in RFC 6026's Accepted state until timer L (64*T1): to
        # where the first one went (the Via's received/rport), the bytes unchanged.
        self.stack.respond(awaited.transaction, awaited.ok)
        awaited.sent += 1
        awaited.interval = min(2 * awaited.interval, self.timers.t2)
        awaited.resend = asyncio.get_running_loop().call_later(awaited.interval, self._resend, key)

    def _no_ack(self, key: AckKey) -> None:
        awaited = self._awaited.get(key)
        if awaited is None:
            return
        self._stop(key)
        log.info("SIP: no ACK for our 2xx to INVITE %s (CSeq %d): ending it", key[0], key[3])
        awaited.on_no_ack()

    def _stop(self, key: AckKey) -> None:
        awaited = self._awaited.pop(key, None)
        if awaited is None:
            return
        for handle in (awaited.resend, awaited.give_up):
            if handle is not None:
                handle.cancel()
