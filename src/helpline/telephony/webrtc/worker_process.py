"""A media worker process: an asyncio loop (uvloop when installed) hosting aiortc legs.

Started by the server (`worker_pool.MediaWorkers`) with the `spawn` method, so it shares no
state with the server but the socket it is handed. It says `Ready` (its pid and its relay's
address), then carries out messages until the server closes the channel, and exits: a worker
never outlives the server that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Callable

from helpline.telephony.webrtc import worker_protocol as wp
from helpline.telephony.webrtc.legs import allow_loopback, fast_audio_level
from helpline.telephony.webrtc.worker_media import Relay, WorkerMedia

log = logging.getLogger("helpline.webrtc.worker")

RELAY_HOST = "127.0.0.1"


def run_worker(channel: socket.socket, log_level: int = logging.WARNING) -> None:
    """The process's main: `channel` is its end of the server's socketpair."""
    logging.basicConfig(level=log_level, format="worker %(process)d %(levelname)s %(message)s")
    allow_loopback()
    fast_audio_level()
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:  # uvloop is optional: asyncio's own loop works, a little slower
        factory = importlib.import_module("uvloop").new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(channel))


async def _serve(channel: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    channel.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=channel)
    sinks: dict[int, Callable[..., None]] = {}
    _, relay = await loop.create_datagram_endpoint(lambda: Relay(sinks), local_addr=(RELAY_HOST, 0))
    assert relay.transport is not None
    port = relay.transport.get_extra_info("sockname")[1]

    def send(message: wp.Message) -> None:
        if not writer.is_closing():
            writer.write(wp.encode(message))

    media = WorkerMedia(send, relay)
    send(wp.Ready(pid=os.getpid(), host=RELAY_HOST, port=port))
    try:
        while True:
            message = await wp.read_message(reader)
            media.handle(message)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the server is gone or closed the channel: so do we
    except wp.ProtocolError:
        log.exception("worker: the channel is broken")
    finally:
        await media.close()
        relay.transport.close()
        with contextlib.suppress(Exception):
            writer.close()
