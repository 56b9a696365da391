"""Personal messages against fixed ones on the `log` channel; emails to an SMTP sink against
a bare aiosmtplib script (peer_smtp.py), which runs once the workers stopped."""

import subprocess
import sys

import harness as h
from flow import enroll, flow, import_profiles, send, walk

PERSONAL = {
    "subject": "Happy birthday, {{ customer.first_name }}",
    "body": "Hi {{ customer.first_name }}, here is BDAY{{ customer.code }} for your birthday.\n",
}


FIXED = {"subject": "Happy birthday", "body": "Hi, here is a gift for your birthday: BDAY10.\n"}
SENDER = "mutation($i: EmailSenderInput!) { setEmailSender(input: $i) { host } }"


async def benchmark(run: h.Run) -> str:
    args, n, emails = run.args, run.args.customers, run.args.emails
    url, _ = await run.project()
    sink, peer = h.free_port(), [sys.executable, str(h.BENCH / "peer_smtp.py")]
    run.start("smtp-sink", [*peer, "--sink", "--port", str(sink)])
    await run.until(lambda: "ready" in run.log("smtp-sink"), "the SMTP sink ready")
    sender = {"host": "127.0.0.1", "port": sink, "security": "NONE"}
    async with h.RawClient(url, {"Authorization": f"Bearer {run.new_token('admin')}"}) as admin:
        await admin.graphql(SENDER, {"i": sender | {"fromAddress": "hello@shop.example"}})
    journeys = []
    async with h.RawClient(url, run.headers, timeout=600) as client:
        await import_profiles(run, url, max(n, emails), lambda k: {"first_name": f"Customer {k}",
                              "email": f"c{k}@example.com", "code": k % 100})  # fmt: skip
        for name, channel, text in (("fixed", "log", FIXED), ("personal", "log", PERSONAL),
                                    ("mail", "email", PERSONAL)):  # fmt: skip
            node, count = send("birthday", channel, **text), emails if name == "mail" else n
            journeys.append((await flow(client, name, [node], "activate", "pause"), count))
            await enroll(client, *journeys[-1])
    await run.start_workers(args.workers)
    fixed, personal, email = [
        count / await walk(run, url, journey, count, "delivered") for journey, count in journeys
    ]
    run.stop("worker")  # the peer has the machine to itself, as the workers had
    command = [*peer, "--port", str(sink), "--messages", str(emails), "--sessions"]
    sent = subprocess.run([*command, str(args.workers)], capture_output=True, check=True)
    peer_rate = emails / float(sent.stdout.split()[1])
    rows = [
        [f"fixed: {n:,} on log", f"{fixed:,.0f} messages/s", "-", "-"],
        [f"personal: {n:,} on log (Liquid)", f"{personal:,.0f} messages/s",
         f"{fixed:,.0f} messages/s (fixed)", h.goal(personal / fixed, ">=", 0.5)],
        [f"email: {emails:,} to an SMTP sink", f"{email:,.0f} emails/s",
         f"{peer_rate:,.0f} emails/s (bare aiosmtplib)", h.goal(email / peer_rate, ">=", 0.5)],
    ]  # fmt: skip
    settings = f"{n:,} customers, {emails:,} emails, {args.workers} workers"
    return run.report(settings, ["phase", "project", "compared with", "goal"], rows)


if __name__ == "__main__":
    h.main(__doc__, "messages", benchmark, True, customers=1_000_000, emails=100_000)
