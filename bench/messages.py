"""Personal messages against fixed ones on the `log` channel, and emails against a bare
aiosmtplib script, in one run.

On PostgreSQL (`--database-url postgresql://...`): one `journeys serve` and `--workers` (2)
`journeys worker` processes on a private Redis, the distributed mode. Profiles `c0`, `c1`,
... (`first_name` "Customer n", `email` cn@example.com, `code` n % 100) are imported first.
Phases:

* **fixed**: `--customers` (1,000,000) enrolled into a PAUSED journey of one SEND on `log`
  with a fixed subject and body, then RESUMEd: messages handed over (and delivered) per
  second until every one was.
* **personal**: the same customers through the same SEND whose subject and body are Liquid
  (`Happy birthday, {{ customer.first_name }}`, the body with three variables and a
  filter): messages/s, against the fixed ones'. Goal: at least 0.5x.
* **email**: `--emails` (100,000) of them through a SEND on `email` (the same personal
  subject and body) to a local SMTP sink (bench/smtp_sink.py, a separate process), the
  workspace's sender set to it: emails/s from the RESUME until every one was delivered;
  against bench/peer_smtp.py, which sends the same messages to the same sink with
  aiosmtplib, one session per batch of 1,000, as many sessions at once as workers.
  Goal: at least 0.5x.

Run from the repository root:
    .venv/bin/python bench/messages.py --database-url postgresql://127.0.0.1:5432/test
    .venv/bin/python bench/messages.py --database-url postgresql://127.0.0.1:5432/test \\
        --customers 20000 --emails 5000          # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from audience import enroll, processors_running
from flow import counter, import_profiles, paused_journey, resume, walk
from harness import (
    JOURNEYS_CLI,
    Processes,
    Setup,
    add_database_options,
    add_run_options,
    create_token,
    facts,
    free_port,
    graphql,
    open_client,
    prepare,
    run_benchmark,
    start_project,
    start_redis,
    table,
    wait_for_quiet,
)

HERE = Path(__file__).resolve().parent
SET_SENDER = """mutation($input: EmailSenderInput!) { setEmailSender(input: $input) { host } }"""
PERSONAL_SUBJECT = "Happy birthday, {{ customer.first_name }}"
PERSONAL_BODY = "Hi {{ customer.first_name }}, here is BDAY{{ customer.code }} for your birthday.\n"
FIXED_SUBJECT = "Happy birthday"
FIXED_BODY = "Hi, here is a gift for your birthday: BDAY10.\n"
BATCH = 1000  # the step processor's, and the peer's session size


def profile(n: int) -> dict[str, Any]:
    return {"first_name": f"Customer {n}", "email": f"c{n}@example.com", "code": n % 100}


def send(channel: str, subject: str, body: str) -> list[dict[str, Any]]:
    node = {"key": "hello", "type": "SEND", "channel": channel, "template": "birthday"}
    return [{**node, "subject": subject, "body": body}]


async def delivered_all(
    url: str, setup: Setup, processes: Processes, journey_id: str, count: int
) -> float:
    """RESUME the journey and wait until `count` messages were delivered; the seconds."""
    await resume(url, setup, journey_id)
    started = time.perf_counter()
    while counter(setup, journey_id, "delivered") < count:
        processes.check_alive()
        if counter(setup, journey_id, "failed"):
            raise RuntimeError("an email failed: see the workers' logs (--keep)")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


def start_sink(processes: Processes, workdir: Path) -> int:
    port = free_port()
    log = workdir / "smtp-sink.log"
    processes.start(
        "smtp-sink", [sys.executable, str(HERE / "smtp_sink.py"), str(port)], dict(os.environ), log
    )
    deadline = time.monotonic() + 10
    while "ready" not in log.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the SMTP sink did not start")
        time.sleep(0.05)
    return port


def peer_seconds(port: int, emails: int, sessions: int) -> float:
    command = [sys.executable, str(HERE / "peer_smtp.py"), "--port", str(port)]
    command += ["--messages", str(emails), "--batch", str(BATCH), "--sessions", str(sessions)]
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    sent, seconds = answer.stdout.split()
    assert int(sent) == emails
    return float(seconds)


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes)
    if setup.database.is_sqlite:
        raise SystemExit("bench/messages.py measures the distributed mode: give --database-url")
    redis_url, _ = start_redis(processes, workdir)
    setup.env = {**setup.env, "REDIS_URL": redis_url, "JOURNEYS_QUEUE_NAME": "bench:messages"}
    api = await start_project(setup, "api")
    sink = start_sink(processes, workdir)
    n, emails = args.customers, args.emails
    lines = [*facts(setup, busy_before, f"{n} customers, {emails} emails, {args.workers} workers")]
    sender = {"host": "127.0.0.1", "port": sink, "security": "NONE"}
    sender["fromAddress"] = "hello@shop.example"
    admin = {"Authorization": f"Bearer {create_token(setup.env, 'bench', 'admin')}"}
    async with open_client("raw", api.url, admin, timeout=60) as client:
        await graphql(client, SET_SENDER, {"input": sender})
    async with open_client("raw", api.url, setup.headers, timeout=600) as client:
        await import_profiles(api.url, setup.headers, max(n, emails), profile)
        fixed = await paused_journey(client, "fixed", send("log", FIXED_SUBJECT, FIXED_BODY))
        personal = await paused_journey(
            client, "personal", send("log", PERSONAL_SUBJECT, PERSONAL_BODY)
        )
        mail = await paused_journey(client, "mail", send("email", PERSONAL_SUBJECT, PERSONAL_BODY))
        for journey_id, customers in ((fixed, n), (personal, n), (mail, emails)):
            await enroll(client, journey_id, customers)
    logs = [workdir / f"worker-{k}.log" for k in range(args.workers)]
    for k, worker_log in enumerate(logs):
        processes.start(f"worker-{k}", [str(JOURNEYS_CLI), "worker"], setup.env, worker_log)
    await processors_running(processes, logs)

    fixed_rate = n / await walk(api.url, setup, processes, fixed, n, args.timeout)
    personal_rate = n / await walk(api.url, setup, processes, personal, n, args.timeout)
    email_rate = emails / await delivered_all(api.url, setup, processes, mail, emails)
    for k in range(args.workers):
        processes.stop(f"worker-{k}")  # the peer has the machine to itself, as they had
    peer_rate = emails / peer_seconds(sink, emails, args.workers)

    rows = [
        [f"fixed: {n:,} on log", f"{fixed_rate:,.0f} messages/s", "-", "-"],
        [f"personal: {n:,} on log (Liquid)", f"{personal_rate:,.0f} messages/s",
         f"{fixed_rate:,.0f} messages/s (fixed)", f">= 0.5x: {personal_rate / fixed_rate:.2f}x"],
        [f"email: {emails:,} to an SMTP sink", f"{email_rate:,.0f} emails/s",
         f"{peer_rate:,.0f} emails/s (bare aiosmtplib)", f">= 0.5x: {email_rate / peer_rate:.2f}x"],
    ]  # fmt: skip
    lines += ["", table(["phase", "project", "compared with", "goal"], rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_options(parser, "journeys_messages")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--emails", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    add_run_options(parser)
    args = parser.parse_args(argv)
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes),
        keep=args.keep,
        name="messages",
    )


if __name__ == "__main__":
    sys.exit(main())
