"""The HTTP API: native /v1, websockets, the sandbox (FastAPI)."""
