"""Media building blocks shared by the WebRTC and SIP adapters (issues 6 and 7).

Sans-I/O: pure functions and small state machines over numpy arrays and bytes. Nothing here
opens a socket or reads a clock; times and randomness come in as arguments.

- `g711`: ITU-T G.711 µ-law and A-law (lookup tables).
- `rtp`: RFC 3550 packets, an outgoing sequence/timestamp generator, receive statistics.
- `rfc4733`: telephone-event payloads, a digit sender and a one-digit-per-event receiver.
- `dtmf`: in-band DTMF detection (batch Goertzel, ITU-T Q.24 style checks).
- `tones`: tones, DTMF tones, silence, comfort noise, mixing, resampling 8k <-> 48k.
- `wav`: a stereo recorder (caller left, agent right) written with the stdlib `wave`.
"""
