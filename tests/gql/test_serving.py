"""The uvicorn internals gql/serving.py's GoingAwayWebSocketProtocol relies on:
its `shutdown` is uvicorn's own but for the close code."""

from __future__ import annotations

import inspect

from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gql.serving import GoingAwayWebSocketProtocol


def test_it_replaces_the_protocol_uvicorn_would_pick() -> None:
    assert AutoWebSocketsProtocol is WebSocketsSansIOProtocol
    assert issubclass(GoingAwayWebSocketProtocol, WebSocketsSansIOProtocol)


def test_uvicorn_shutdown_is_still_the_one_copied() -> None:
    source = inspect.getsource(WebSocketsSansIOProtocol.shutdown)
    for step in (
        "self.stop_keepalive()",
        "self.close_sent",
        "self.close_timer",
        "self.handshake_complete",
        'self.queue.put_nowait({"type": "websocket.disconnect", "code": 1012})',
        "self.conn.send_close(1012)",
        "self.send_500_response()",
        "self.transport.close()",
    ):
        assert step in source, f"uvicorn's shutdown changed: {step!r} is gone"
