"""An SMTP server that takes every message and keeps none, where messages.py's emails go, the
project's and the peer's alike: `python bench/smtp_sink.py PORT` prints "ready" once it
listens."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class Discard:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


async def serve(port: int) -> None:
    def session() -> Any:  # no hostname look-up per session: the sink stands for a fast receiver
        return SMTP(Discard(), hostname="sink.local", enable_SMTPUTF8=True)

    server = await asyncio.get_running_loop().create_server(session, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
