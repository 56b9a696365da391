"""A WebSocket that never sends connection_init is closed at the deadline, on both
protocols (Strawberry gives the legacy one none), and is never counted as a
connection meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from service.clock import ManualClock
from tests.conftest import T0
from tests.e2e.conftest import LiveServer, gauge, make_tokens

pytestmark = pytest.mark.e2e


@pytest.fixture
def impatient(database_url: str) -> Iterator[LiveServer]:
    clock = ManualClock(T0)
    settings = {"ws_init_seconds": 0.5}
    live = LiveServer(database_url, clock, make_tokens(database_url, clock), settings=settings)
    live.start()
    yield live
    live.stop()


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
