"""The one error the SIP parser raises, carrying the response a UAS should answer with.

RFC 3261 section 21 gives the status codes; RFC 4475 says which of them a parser is expected
to use for each kind of malformed message (400 in general, 505 for an unknown SIP version,
416 for an unsupported Request-URI scheme, 513 for an oversized message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helpline.sip.headers import Headers

REASON_PHRASES: dict[int, str] = {  # RFC 3261 section 21, and the later common ones
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    429: "Too Many Requests",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


class SipParseError(ValueError):
    """A message that does not follow the RFC 3261 grammar (or one we refuse to process).

    `status`/`reason` are what to answer with when the message was a request. `is_response`
    tells the transport to drop instead (RFC 3261 18.1.2: a malformed response is discarded).
    `headers` holds whatever header fields were read before the error, so that a 400 can still
    copy Via, From, To, Call-ID and CSeq (RFC 3261 8.2.6.2); it is None when the header section
    itself could not be read.
    """

    def __init__(
        self,
        message: str,
        status: int = 400,
        *,
        reason: str | None = None,
        is_response: bool = False,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason or REASON_PHRASES.get(status, "Bad Request")
        self.is_response = is_response
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"
