"""Properties of the parser: serialize(parse(x)) is a fixed point, URIs survive escaping,
and no input whatsoever raises anything but SipParseError. No deadlines: the machine is
shared, and these check outcomes, not speed."""

from __future__ import annotations

import contextlib
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.sip.fields import TOKEN_CHARS
from helpline.sip.framing import StreamFramer
from helpline.sip.message import SipParseError, parse_message, parse_uri
from helpline.sip.uri import SipUri

TORTURE = sorted(Path("/work/shared/testdata/rfc4475").glob("*.dat"))
SAMPLES = [path.read_bytes() for path in TORTURE]

token = st.text(alphabet="".join(sorted(TOKEN_CHARS)), min_size=1, max_size=12)
label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
host = st.lists(label, min_size=1, max_size=3).map(".".join)
lws = st.sampled_from(["", " ", "\t", "  ", "\r\n ", "\r\n\t"])
any_text = st.text(max_size=12)  # any code point, NUL and '%' and '@' included


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | any_text.filter(bool))
    params = draw(
        st.dictionaries(token.map(str.lower), st.none() | any_text.filter(bool), max_size=3)
    )
    headers = draw(st.dictionaries(any_text.filter(bool), any_text, max_size=2))
    return SipUri(
        draw(st.sampled_from(["sip", "sips"])),
        user,
        draw(st.none() | any_text) if user is not None else None,
        draw(host),
        draw(st.none() | st.integers(0, 65535)),
        params,
        headers,
    )


@settings(deadline=None)
@given(sip_uris())
def test_any_uri_survives_escaping(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


@st.composite
def raw_messages(draw: st.DrawFn) -> bytes:
    """Requests (and responses) written the many ways the grammar allows: compact names,
    folding, odd case, header lists on one line or several, quoted display names."""
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "REGISTER", "BYE"]) | token)
    uri = f"sip:{draw(label)}@{draw(host)}"

    def name(long: str, compact: str | None = None) -> str:
        chosen = draw(
            st.sampled_from([long, long.upper(), long.lower()] + ([compact] if compact else []))
        )
        return chosen + draw(st.sampled_from(["", " ", "\t"]))

    display = draw(st.text(alphabet=string.printable.strip(), max_size=10))
    quoted = display.replace("\\", "\\\\").replace('"', '\\"')
    transports = st.sampled_from(["UDP", "TCP", "TLS"])
    vias = [
        f"SIP/2.0/{draw(transports)} {draw(host)};branch=z9hG4bK{draw(label)}"
        for _ in range(draw(st.integers(1, 3)))
    ]
    from_uri = f"<sip:{draw(label)}@{draw(host)}>"
    lines = [f"{method} {uri} SIP/2.0"]
    if draw(st.booleans()):  # a response instead, with any code and a UTF-8 reason phrase
        reason = draw(st.text(st.characters(min_codepoint=32, exclude_categories=["Cs", "Cc"])))
        lines = [f"SIP/2.0 {draw(st.integers(100, 699))} {reason}"]
    if draw(st.booleans()):
        lines.append(f"{name('Via', 'v')}:{draw(lws)}{(',' + draw(lws)).join(vias)}")
    else:
        lines += [f"{name('Via', 'v')}: {via}" for via in vias]
    lines += [
        f'{name("From", "f")}:{draw(lws)}"{quoted}" {from_uri}{draw(lws)};{draw(lws)}tag=x',
        f"{name('To', 't')}: <{uri}>",
        f"{name('Call-ID', 'i')}: {draw(label)}@{draw(host)}",
        f"{name('CSeq')}:{draw(lws)}{draw(st.integers(0, 2**32 - 1))}{draw(lws)} {method}",
        f"{name('Max-Forwards')}: {draw(st.integers(0, 255))}",
    ]
    for _ in range(draw(st.integers(0, 3))):
        value = draw(st.text(alphabet=string.printable.strip() + " ", max_size=20)).strip()
        lines.append(f"X-{draw(token)}:{draw(lws)}{value}")
    body = draw(st.binary(max_size=40))
    lines.append(f"{name('Content-Length', 'l')}: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_messages())
def test_serialize_parse_is_a_fixed_point(data: bytes) -> None:
    first = parse_message(data)
    wire = bytes(first)
    second = parse_message(wire)
    assert bytes(second) == wire
    assert (second.start_line, second.body) == (first.start_line, first.body)
    assert list(second.headers) == list(first.headers)


def test_torture_messages_are_fixed_points_too() -> None:
    parsed = 0
    for sample in SAMPLES:
        try:
            message = parse_message(sample)
        except SipParseError:
            continue
        assert bytes(parse_message(bytes(message))) == bytes(message)
        parsed += 1
    assert parsed >= 20  # the torture tests' valid messages (see test_sip_rfc4475)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=3), st.integers(0, 3)), max_size=6),
)
def test_mutated_torture_messages_raise_only_sip_parse_error(
    sample: bytes, edits: list[tuple[int, bytes, int]]
) -> None:
    data = bytearray(sample)
    for position, insert, delete in edits:
        at = position % (len(data) + 1)
        data[at : at + delete] = insert
    for stream in (False, True):
        with contextlib.suppress(SipParseError):
            parse_message(bytes(data), stream=stream)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 300), max_size=30), st.binary(max_size=200))
def test_framer_cuts_any_chunking_the_same_way(cuts: list[int], garbage: bytes) -> None:
    messages = [sample for sample in SAMPLES if _parses_on_stream(sample)]
    stream = b"".join(messages) + garbage
    framer = StreamFramer()
    out = []
    position = 0
    for cut in [*cuts, len(stream)]:
        out += framer.feed(stream[position : position + cut])
        position += cut
    assert len(messages) >= 20
    assert out[: len(messages)] == [parse_message(m, stream=True) for m in messages]


def _parses_on_stream(data: bytes) -> bool:
    """Whether `data` is exactly one message with an exact Content-Length (dblreq.dat has
    octets past its first message, and RFC 2543's inv2543.dat has no Content-Length)."""
    try:
        message = parse_message(data, stream=True)
    except SipParseError:
        return False
    length = int(message.headers.get("Content-Length") or "0")
    return len(data) == data.find(b"\r\n\r\n") + 4 + length
