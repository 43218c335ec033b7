"""Dialogs, RFC 3261 section 12: their identity, route set, sequence numbers and remote
target, and the requests sent within them (BYE, re-INVITE, the ACK for a 2xx).

A Dialog is a frozen value: receiving a request or a response, or building a request, returns
the next Dialog. Branches (and tags) are inputs, since the stack draws no randomness itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from helpline.core.plain import freeze_interpreted
from helpline.sip.fields import NameAddr, parse_name_addr
from helpline.sip.headers import Headers
from helpline.sip.message import Request, Response
from helpline.sip.uri import parse_uri, uri_scheme

# Requests that may change the remote target (12.2: target refresh requests)
TARGET_REFRESH: Final = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
DEFAULT_MAX_FORWARDS: Final = "70"  # 8.1.1.6


class DialogError(ValueError):
    """A request or response that does not fit the dialog; `status` is what to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class DialogState(StrEnum):
    EARLY = "early"  # created by a 1xx with a To tag (12.1)
    CONFIRMED = "confirmed"  # created or confirmed by a 2xx


@dataclass(init=False, unsafe_hash=True)
class DialogId:
    """Call-ID plus local and remote tags (12): the same dialog has mirrored ids at each end."""

    call_id: Final[str]
    local_tag: Final[str]
    remote_tag: Final[str]

    def __init__(self, call_id: str, local_tag: str, remote_tag: str) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag


def uas_dialog_id(request: Request) -> DialogId:
    """The id of the dialog an incoming request belongs to (12.2.2: To tag is ours)."""
    return DialogId(request.call_id, request.to.tag or "", request.from_.tag or "")


def uac_dialog_id(response: Response) -> DialogId:
    """The id of the dialog an incoming response belongs to (From tag is ours)."""
    return DialogId(response.call_id, response.from_.tag or "", response.to.tag or "")


def _contact_uri(message: Request | Response) -> str:
    contacts = message.headers.get_all("Contact")
    if len(contacts) != 1 or contacts[0] == "*":
        raise DialogError("a dialog-creating message needs exactly one Contact (12.1)")
    return parse_name_addr(contacts[0], "Contact").uri


def _without_tag(name_addr: NameAddr) -> NameAddr:
    params = {k: v for k, v in name_addr.params.items() if k != "tag"}
    return NameAddr(name_addr.display, name_addr.uri, params)


@dataclass(init=False, unsafe_hash=True)
class Dialog:
    id: Final[DialogId]
    state: Final[DialogState]
    local: Final[NameAddr]  # our From (UAC) or To (UAS), without the tag
    remote: Final[NameAddr]
    remote_target: Final[str]  # the peer's Contact URI: where in-dialog requests go
    route_set: Final[tuple[str, ...]]  # name-addr values, in the order requests list them
    local_seq: Final[int | None]
    remote_seq: Final[int | None]
    secure: Final[bool]

    def __init__(
        self,
        *,
        id: DialogId,  # the RFC's word (12)
        state: DialogState,
        local: NameAddr,
        remote: NameAddr,
        remote_target: str,
        route_set: tuple[str, ...],
        local_seq: int | None,
        remote_seq: int | None,
        secure: bool = False,
    ) -> None:
        self.id = id
        self.state = state
        self.local = local
        self.remote = remote
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure

    @classmethod
    def as_uac(cls, request: Request, response: Response, *, secure: bool = False) -> Dialog:
        """12.1.2: the route set is the response's Record-Route reversed."""
        if not response.to.tag:
            raise DialogError("a dialog needs a To tag in the response (12.1.2)")
        return cls(
            id=DialogId(request.call_id, request.from_.tag or "", response.to.tag),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            local=_without_tag(request.from_),
            remote=_without_tag(response.to),
            remote_target=_contact_uri(response),
            route_set=tuple(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq.number,
            remote_seq=None,
            secure=secure or uri_scheme(request.uri) == "sips",
        )

    @classmethod
    def as_uas(
        cls, request: Request, local_tag: str, *, confirmed: bool = True, secure: bool = False
    ) -> Dialog:
        """12.1.1: the route set is the request's Record-Route in order; `local_tag` is the
        To tag our response carries."""
        return cls(
            id=DialogId(request.call_id, local_tag, request.from_.tag or ""),
            state=DialogState.CONFIRMED if confirmed else DialogState.EARLY,
            local=_without_tag(request.to),
            remote=_without_tag(request.from_),
            remote_target=_contact_uri(request),
            route_set=tuple(request.headers.get_all("Record-Route")),
            local_seq=None,
            remote_seq=request.cseq.number,
            secure=secure,
        )

    # -- receiving ------------------------------------------------------------------------

    def receive_request(self, request: Request) -> Dialog:
        """12.2.2: reject out-of-order requests (500), track the remote sequence number and
        the remote target. CANCEL and ACK carry their INVITE's number and are not checked."""
        if uas_dialog_id(request) != self.id:
            raise DialogError("request is not of this dialog", 481)
        number = request.cseq.number
        if request.method in ("ACK", "CANCEL"):
            return self
        if self.remote_seq is not None and number < self.remote_seq:
            raise DialogError(f"CSeq {number} below {self.remote_seq}: out of order", 500)
        target = self.remote_target
        if request.method in TARGET_REFRESH and "Contact" in request.headers:
            target = _contact_uri(request)
        return replace(self, remote_seq=number, remote_target=target)

    def receive_response(self, response: Response) -> Dialog:
        """12.2.1.2 and 13.2.2.4: a 2xx to a target refresh replaces the remote target, and
        a 2xx that confirms an early dialog recomputes the route set from itself."""
        if uac_dialog_id(response) != self.id:
            raise DialogError("response is not of this dialog", 481)
        if not 200 <= response.status < 300:
            return self
        target = self.remote_target
        if response.cseq.method in TARGET_REFRESH and "Contact" in response.headers:
            target = _contact_uri(response)
        routes = self.route_set
        if self.state is DialogState.EARLY:
            routes = tuple(reversed(response.headers.get_all("Record-Route")))
        return replace(self, state=DialogState.CONFIRMED, remote_target=target, route_set=routes)

    # -- sending --------------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        via: str,
        branch: str,
        contact: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> tuple[Dialog, Request]:
        """A request within the dialog (12.2.1.1). `via` is our sent-protocol and sent-by
        ("SIP/2.0/UDP 192.0.2.1:5060"). The local sequence number goes up by one unless
        `cseq` is given: the ACK for a 2xx and a CANCEL reuse their INVITE's (13.2.2.4)."""
        if cseq is None:
            cseq = (self.local_seq or 0) + 1
            dialog = replace(self, local_seq=cseq)
        else:
            dialog = self
        uri, routes = self._request_uri_and_routes()
        headers = Headers()
        headers.add("Via", f"{via};branch={branch}")
        headers.add("Max-Forwards", DEFAULT_MAX_FORWARDS)
        headers.add("From", str(self.local.with_params(tag=self.id.local_tag)))
        to = self.remote.with_params(tag=self.id.remote_tag) if self.id.remote_tag else self.remote
        headers.add("To", str(to))
        headers.add("Call-ID", self.id.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        for route in routes:
            headers.add("Route", route)
        if contact is not None:
            headers.add("Contact", contact)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        return dialog, Request(method, uri, headers, body)

    def create_ack(self, invite_cseq: int, *, via: str, branch: str, body: bytes = b"") -> Request:
        """The ACK for a 2xx to an INVITE (13.2.2.4): a new branch, the INVITE's CSeq number."""
        _, ack = self.create_request("ACK", via=via, branch=branch, cseq=invite_cseq, body=body)
        return ack

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        """12.2.1.1: loose routing when the first route has `lr`; otherwise strict routing
        (RFC 2543 proxies): the first route becomes the Request-URI and the remote target is
        appended as the last Route."""
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0], "Route")
        if uri_scheme(first.uri) in ("sip", "sips") and "lr" in parse_uri(first.uri).params:
            return self.remote_target, list(self.route_set)
        uri = first.uri
        if uri_scheme(uri) in ("sip", "sips"):  # drop what a Request-URI may not carry (19.1.1)
            parsed = parse_uri(uri)
            params = {k: v for k, v in parsed.params.items() if k != "method"}
            uri = str(replace(parsed, params=params, headers={}))
        return uri, [*self.route_set[1:], f"<{self.remote_target}>"]


# Made and moved on (`replace`) by every message of a call: native classes (built in C when
# compiled, `core/plain.py` says why), as read-only as frozen dataclasses.
freeze_interpreted(DialogId, Dialog)
