"""messages.py's peer: its emails sent with aiosmtplib, one session per 1,000, as many at once
as the project has workers, then "<messages> <seconds>" printed. With `--sink`, instead, the
SMTP server both send to, keeping none; it prints "ready" once it listens."""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any

import aiosmtplib
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP


def message(n: int) -> EmailMessage:
    """What the project's email SEND makes of customer `c{n}`."""
    email = EmailMessage(policy=SMTP_POLICY)
    email["From"], email["To"] = "hello@shop.example", f"c{n}@example.com"
    email["Subject"] = f"Happy birthday, Customer {n}"
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = f"<{uuid.uuid4().hex}@shop.example>"
    body = f"Hi Customer {n}, here is BDAY{n % 100} for your birthday.\n"
    email.set_content(body, charset="utf-8")
    return email


async def send(port: int, batches: list[range]) -> None:
    for batch in batches:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await smtp.connect()
        for n in batch:
            await smtp.send_message(message(n))
        await smtp.quit()


async def peer(port: int, messages: int, sessions: int) -> None:
    batches = [range(k, min(messages, k + 1000)) for k in range(0, messages, 1000)]
    started = time.perf_counter()
    await asyncio.gather(*(send(port, batches[k::sessions]) for k in range(sessions)))
    print(f"{messages} {time.perf_counter() - started:.3f}")


async def sink(port: int) -> None:
    def session() -> Any:  # no hostname look-up per session: the sink stands for a fast receiver
        return SMTP(Sink(), hostname="sink.local", enable_SMTPUTF8=True)  # answers 250, keeps none

    server = await asyncio.get_running_loop().create_server(session, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sink", action="store_true", help="be the SMTP sink on --port")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(sink(args.port) if args.sink else peer(args.port, args.messages, args.sessions))
