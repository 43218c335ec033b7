"""Helpline's SIP stack, sans-I/O like the core: bytes and time in, bytes and commands out.

- `message` (with `headers`, `uri`, `fields`, `errors`): parse and serialize (RFC 3261
  sections 7, 19, 20, 25); `framing`: cut a TCP stream into messages (18.3).
- `transaction_base`, `client_transaction`, `server_transaction`: the section 17 state
  machines as transition tables (with RFC 6026's Accepted state); `transaction_layer`:
  which transaction a message belongs to (17.1.3, 17.2.3), and the layer as one object.
- `via_rules`: received/rport and where a response goes (18.2, RFC 3581).
- `dialog`: section 12 dialogs and the requests sent within them.

Nothing here opens a socket, reads a clock or draws randomness: timers are commands the shell
arms and fires back, branches and tags are arguments.
"""
