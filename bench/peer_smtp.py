"""The email peer: a bare aiosmtplib script that sends the messages bench/messages.py's
journey sends (the same subject, body, headers and sizes, rendered here with str.format)
to the same SMTP sink, one SMTP session per batch of the same size, as many sessions at
once as the project has workers. Outside the project: it imports none of it.

    .venv/bin/python bench/peer_smtp.py --port PORT --messages 100000
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

import aiosmtplib

FROM = "hello@shop.example"


def message(n: int) -> EmailMessage:
    """What the project's email SEND makes of customer `c{n}` (bench/messages.py)."""
    email = EmailMessage(policy=SMTP_POLICY)
    email["From"] = FROM
    email["To"] = f"c{n}@example.com"
    email["Subject"] = f"Happy birthday, Customer {n}"
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = f"<{uuid.uuid4().hex}@shop.example>"
    email.set_content(
        f"Hi Customer {n}, here is BDAY{n % 100} for your birthday.\n", charset="utf-8"
    )
    return email


async def send_batches(port: int, numbers: list[range]) -> None:
    for batch in numbers:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await smtp.connect()
        for n in batch:
            await smtp.send_message(message(n))
        await smtp.quit()


async def main(port: int, messages: int, batch: int, sessions: int) -> float:
    batches = [range(start, min(messages, start + batch)) for start in range(0, messages, batch)]
    started = time.perf_counter()
    await asyncio.gather(*(send_batches(port, batches[k::sessions]) for k in range(sessions)))
    return time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=2)
    args = parser.parse_args()
    seconds = asyncio.run(main(args.port, args.messages, args.batch, args.sessions))
    print(f"{args.messages} {seconds:.3f}")
