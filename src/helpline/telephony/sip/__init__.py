"""The `sip` telephony adapter: the asyncio shell around the sans-I/O stack in helpline.sip.

`transport` (UDP, TCP and TLS sockets), `stack` (limits, parse errors, transactions and their
timers), `adapter` (the Telephony port and the transaction user: OPTIONS, REGISTER, trunks'
INVITEs), `calls` (the B2BUA), `media` (a call's RTP sockets: our endpoint for the caller,
or the relay, or both ends terminated and recorded), `audio` (prompts, hold music, the
bridge), `accounts` (agents' phone accounts), `presence` (one online
flag from several sources).
"""

from helpline.telephony.sip.accounts import AccountFile, set_password
from helpline.telephony.sip.adapter import SipConfig, SipTelephony, Trunk

__all__ = ["AccountFile", "SipConfig", "SipTelephony", "Trunk", "set_password"]
