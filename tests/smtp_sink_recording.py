"""An SMTP server in a process of its own (aiosmtpd), for tests that kill the processes
that send to it: it takes every message and appends a line `<Message-ID> <recipient>
<Subject>` per recipient to a file, flushed before it answers 250, so that the file holds what the
server took whatever happens to the sender. An optional delay before each answer to
DATA makes a batch take long enough to be interrupted.

    python -m tests.smtp_sink_recording --port 2525 --out received.txt --delay 0.005

It prints `ready` once it listens, and runs until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
from email.parser import BytesHeaderParser
from typing import IO, Any

from aiosmtpd.smtp import SMTP

HOST = "127.0.0.1"


class RecordingHandler:
    """Takes every message; records its Message-ID, recipient and subject, a line for
    each recipient."""

    def __init__(self, out: IO[str], delay: float) -> None:
        self._out = out
        self._delay = delay
        self._headers = BytesHeaderParser()

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self._delay:
            await asyncio.sleep(self._delay)
        data = envelope.original_content or envelope.content
        headers = self._headers.parsebytes(data)
        message_id, subject = headers.get("Message-ID", "-"), headers.get("Subject", "")
        for recipient in envelope.rcpt_tos:
            self._out.write(f"{message_id} {recipient} {subject}\n")
        self._out.flush()  # taken: on disk before the sender hears 250
        return "250 OK"


async def serve(port: int, out: IO[str], delay: float) -> None:
    handler = RecordingHandler(out, delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test"), host=HOST, port=port
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True, help="the file lines are appended to")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each 250")
    args = parser.parse_args()
    with open(args.out, "a", encoding="utf-8") as out:
        asyncio.run(serve(args.port, out, args.delay))


if __name__ == "__main__":
    main()
