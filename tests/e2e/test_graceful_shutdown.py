"""SIGTERM to a real `journeys serve`: a request under way finishes and is answered,
open WebSockets are closed with 1001 (going away: reconnect), and the process exits."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_finishes_requests_and_closes_sockets_with_1001(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}", "PATH": "/usr/bin:/bin"}
    env |= {"PYTHONPATH": str(ROOT), "JOURNEYS_LOG_FORMAT": "text"}

    def journeys(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip

    token = journeys("token", "create", "--workspace", "w", "--role", "editor").splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

        ws = connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        ws.send(json.dumps(init))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"

        # A request under way: its headers and half its body sent when SIGTERM comes.
        body = json.dumps({"query": "{ viewer { role } }"}).encode()
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(
            (
                f"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[:10]
        )
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)

        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001

        raw.sendall(body[10:])
        raw.settimeout(10)
        answer = b""
        while b'"role"' not in answer:
            chunk = raw.recv(65536)
            if not chunk:
                break
            answer += chunk
        raw.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b'"EDITOR"' in answer
        # uvicorn ends by raising the signal it caught again: exit status -SIGTERM.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
