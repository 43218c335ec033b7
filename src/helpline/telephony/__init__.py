"""Telephony adapters behind the `Telephony` port: the virtual carrier (webrtc and sip to come)."""
