"""A WebSocket that never sends connection_init is closed at the deadline, on both
protocols (Strawberry gives the legacy one none), and is never counted as a
connection meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import LiveServer, gauge, live_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def impatient(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, ws_init_seconds=0.5) as live:
        yield live


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_a_socket_without_connection_init_is_closed_at_the_deadline(
    impatient: LiveServer, protocol: str
) -> None:
    url = impatient.base_url.replace("http", "ws") + "/graphql"
    with connect(url, subprotocols=[protocol], open_timeout=10) as ws:  # type: ignore[list-item]
        assert gauge(impatient, "journeys_websockets") == 0  # not acknowledged: not counted
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408

    with impatient.websocket(protocol=protocol):  # one that says hello in time stays
        assert gauge(impatient, "journeys_websockets") == 1
