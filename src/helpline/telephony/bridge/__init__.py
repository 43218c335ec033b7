"""Media between SIP legs (G.711 RTP, 8 kHz) and browser legs (aiortc, 48 kHz) (issues 6, 7).

`pcm` converts between the two rates; `links` joins a SIP call's RTP endpoint to a browser
agent's line, or a browser caller's call to a SIP leg. The engine's commands that make and
break these joins are carried out by `helpline.telephony.sip.browser`.
"""

from helpline.telephony.bridge.links import CallerLink, LineLink
from helpline.telephony.bridge.pcm import Transcoder

__all__ = ["CallerLink", "LineLink", "Transcoder"]
