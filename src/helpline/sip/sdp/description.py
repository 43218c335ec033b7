"""SDP session descriptions (RFC 8866, formerly RFC 4566): parse and serialize.

Sans-I/O: text in, frozen dataclasses out, and back. The parser is strict where a mistake
would send media to the wrong place (v=, o=, c=, m=, rtpmap) and lenient where real phones
differ (missing s= or t=, LF line ends, attributes it does not know, which are kept verbatim
so that ICE candidates and the like survive a round trip but are otherwise ignored).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from helpline.sip.sdp.errors import SdpError

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
# RFC 3551 Table 4: static payload types need no rtpmap.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int]] = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
CODEC_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
TELEPHONE_EVENT = "telephone-event"
MAX_SDP_BYTES = 65536  # a body larger than this is not a phone's offer


@dataclass(frozen=True, slots=True)
class Origin:
    """o= (RFC 8866 section 5.2); `version` must grow with each new offer in a dialog."""

    username: str
    session_id: int
    version: int
    address: str
    address_type: str = "IP4"


@dataclass(frozen=True, slots=True)
class Connection:
    """c= (section 5.7). An all-zero IPv4 address is RFC 2543's old way of saying hold."""

    address: str
    address_type: str = "IP4"


@dataclass(frozen=True, slots=True)
class RtpMap:
    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1


Attribute = tuple[str, str | None]  # a=name:value, or a=name (a flag) with None


@dataclass(frozen=True, slots=True)
class Media:
    """One m= section (section 5.14) with the lines that follow it."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    port_count: int = 1
    other: tuple[str, ...] = ()  # i=, b=, k= lines, kept verbatim

    def attribute(self, name: str) -> str | None:
        return next((v for n, v in self.attributes if n == name), None)

    def has(self, name: str) -> bool:
        return any(n == name for n, _ in self.attributes)

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Every payload type of the m= line with its encoding: rtpmap, else the static one."""
        maps: dict[int, RtpMap] = {}
        for value in (v for n, v in self.attributes if n == "rtpmap" and v):
            rtpmap = _parse_rtpmap(value)
            maps[rtpmap.payload_type] = rtpmap
        out: dict[int, RtpMap] = {}
        for fmt in filter(_is_digits, self.formats):  # non-RTP media have other formats
            pt = int(fmt)
            if pt in maps:
                out[pt] = maps[pt]
            elif pt in STATIC_PAYLOAD_TYPES:
                name, rate = STATIC_PAYLOAD_TYPES[pt]
                out[pt] = RtpMap(pt, name, rate)
        return out

    def fmtp(self, payload_type: int) -> str | None:
        prefix = f"{payload_type} "
        return next(
            (
                v[len(prefix) :].strip()
                for n, v in self.attributes
                if n == "fmtp" and v and v.startswith(prefix)
            ),
            None,
        )

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        return int(float(value)) if value and _is_number(value) else None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    origin: Origin
    name: str = "-"
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[Media, ...] = ()
    timing: str = "0 0"
    other: tuple[str, ...] = ()  # i=, u=, e=, p=, b=, r=, z=, k= lines, kept verbatim

    def direction(self, media: Media) -> Direction:
        """The media's direction attribute, else the session's, else sendrecv (section 6.7)."""
        for attributes in (media.attributes, self.attributes):
            for name, _ in attributes:
                if name in DIRECTIONS:
                    return name
        return "sendrecv"

    def address(self, media: Media) -> str:
        connection = media.connection or self.connection
        if connection is None:  # parse_sdp refuses this for every m= line with a port
            raise SdpError(f"m={media.kind}: no c= line for this media")
        return connection.address

    def serialize(self) -> str:
        o = self.origin
        lines = [
            "v=0",
            f"o={o.username} {o.session_id} {o.version} IN {o.address_type} {o.address}",
            f"s={self.name}",
        ]
        lines += [x for x in self.other if x[0] in "iuepb"]
        if self.connection:
            lines.append(f"c=IN {self.connection.address_type} {self.connection.address}")
        lines.append(f"t={self.timing}")
        lines += [x for x in self.other if x[0] in "rzk"]
        lines += [_attribute_line(a) for a in self.attributes]
        for m in self.media:
            port = f"{m.port}/{m.port_count}" if m.port_count != 1 else str(m.port)
            lines.append(f"m={m.kind} {port} {m.proto} {' '.join(m.formats)}".rstrip())
            lines += [x for x in m.other if x[0] == "i"]
            if m.connection:
                lines.append(f"c=IN {m.connection.address_type} {m.connection.address}")
            lines += [x for x in m.other if x[0] != "i"]
            lines += [_attribute_line(a) for a in m.attributes]
        return "\r\n".join(lines) + "\r\n"


def _attribute_line(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


def _is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def _is_number(text: str) -> bool:
    return _is_digits(text.replace(".", "", 1))


def _parse_rtpmap(value: str, line: int = 0) -> RtpMap:
    """a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>] (section 6.6)."""
    pt, _, rest = value.partition(" ")
    parts = rest.strip().split("/")
    if not _is_digits(pt) or int(pt) > 127 or len(parts) not in (2, 3) or not parts[0]:
        raise SdpError(
            "rtpmap: expected '<pt> <encoding>/<rate>[/<channels>]'",
            line=line,
            text=f"a=rtpmap:{value}",
        )
    if not all(_is_digits(p) for p in parts[1:]):
        raise SdpError(
            "rtpmap: clock rate and channels must be numbers", line=line, text=f"a=rtpmap:{value}"
        )
    channels = int(parts[2]) if len(parts) == 3 else 1
    return RtpMap(int(pt), parts[0], int(parts[1]), channels)


def _parse_connection(value: str, line: int) -> Connection:
    """c=IN IP4 <address>[/ttl] (section 5.7); only unicast addresses are useful to us."""
    parts = value.split()
    # the address without its "/ttl" must be left: "c=IN IP4 /127" names no address
    address = parts[2].split("/")[0] if len(parts) == 3 else ""
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6") or not address:
        raise SdpError("c=: expected 'IN IP4|IP6 <address>'", line=line, text=f"c={value}")
    return Connection(address, parts[1])


def _parse_origin(value: str, line: int) -> Origin:
    parts = value.split()
    if len(parts) != 6 or parts[3] != "IN" or parts[4] not in ("IP4", "IP6"):
        raise SdpError(
            "o=: expected '<user> <id> <version> IN IP4|IP6 <address>'",
            line=line,
            text=f"o={value}",
        )
    if not (_is_digits(parts[1]) and _is_digits(parts[2])):
        raise SdpError("o=: session id and version must be numbers", line=line, text=f"o={value}")
    return Origin(parts[0], int(parts[1]), int(parts[2]), parts[5], parts[4])


def _parse_media(value: str, line: int) -> Media:
    """m=<media> <port>[/<count>] <proto> <fmt> ... (section 5.14)."""
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(
            "m=: expected '<media> <port> <proto> <formats>'", line=line, text=f"m={value}"
        )
    port_text, _, count_text = parts[1].partition("/")
    if (
        not _is_digits(port_text)
        or int(port_text) > 65535
        or (count_text and not _is_digits(count_text))
    ):
        raise SdpError("m=: port must be a number 0..65535", line=line, text=f"m={value}")
    formats = tuple(parts[3:])
    if "RTP/" in parts[2] and not all(_is_digits(f) and int(f) <= 127 for f in formats):
        raise SdpError("m=: RTP formats must be payload types 0..127", line=line, text=f"m={value}")
    count = int(count_text) if count_text else 1
    return Media(parts[0], int(port_text), parts[2], formats, port_count=count)


@dataclass(slots=True)
class _Section:
    """The lines read so far of the session part, or of one m= section."""

    media: Media | None = None
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def finish(self) -> Media:
        assert self.media is not None
        return replace(
            self.media,
            connection=self.connection,
            attributes=tuple(self.attributes),
            other=tuple(self.other),
        )


def parse_sdp(body: str | bytes) -> SessionDescription:
    """Parse a session description; `SdpError` names the first line it cannot accept."""
    if isinstance(body, bytes):
        if len(body) > MAX_SDP_BYTES:
            raise SdpError(f"body: larger than {MAX_SDP_BYTES} bytes", status=413)
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError(f"body: not UTF-8 ({exc.reason})") from exc
    lines = [x.rstrip("\r") for x in body.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise SdpError("body: empty session description")
    session, sections = _Section(), list[_Section]()
    origin: Origin | None = None
    name, timing = "-", "0 0"
    for number, text in enumerate(lines, 1):
        if len(text) < 2 or text[1] != "=" or not ("a" <= text[0] <= "z"):
            raise SdpError("expected '<letter>=<value>'", line=number, text=text)
        kind, value = text[0], text[2:]
        target = sections[-1] if sections else session
        if number == 1 or kind == "v":
            if number != 1 or value.strip() != "0":
                raise SdpError("the first line must be v=0", line=number, text=text)
        elif kind == "m":
            sections.append(_Section(media=_parse_media(value, number)))
        elif kind == "a":
            attr_name, colon, attr_value = value.partition(":")
            if not attr_name:
                raise SdpError("a=: empty attribute name", line=number, text=text)
            if attr_name == "rtpmap":
                _parse_rtpmap(attr_value, number)  # fail here, where the line is known
            target.attributes.append((attr_name, attr_value if colon else None))
        elif kind == "c":
            target.connection = _parse_connection(value, number)
        elif kind in "ost" and not sections:
            if kind == "o":
                origin = _parse_origin(value, number)
            elif kind == "s":
                name = value or "-"
            else:
                timing = value
        elif kind in "iuepbrzk":
            target.other.append(text)
        else:
            raise SdpError(
                f"{kind}=: unknown line type, or not allowed here", line=number, text=text
            )
    if origin is None:
        raise SdpError("o=: the origin line is missing")
    media = tuple(section.finish() for section in sections)
    for m in media:
        if m.port and m.connection is None and session.connection is None:
            raise SdpError(f"m={m.kind}: no c= line at the session or media level")
    return SessionDescription(
        origin,
        name,
        session.connection,
        tuple(session.attributes),
        media,
        timing,
        tuple(session.other),
    )
