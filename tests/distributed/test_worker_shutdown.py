"""A worker asked to stop (SIGTERM, or Ctrl-C's SIGINT) in the middle of a backlog:
it finishes the batch under way, takes no other, closes its connections and exits 0;
another worker then does the rest, and every customer gets each message once.

Real processes on PostgreSQL and a private Redis (tests/distributed/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections import Counter
from pathlib import Path

import pytest

import jobs.worker
from jobs.worker import STOP_SECONDS
from tests.distributed.conftest import Cluster, wait_until
from tests.distributed.test_audience import (
    ENROLL,
    assert_each_sent_once,
    delivered,
    running_journey,
)
from tests.distributed.test_faults import Api

CUSTOMERS = 10_000
TEMPLATES = ("offer", "reminder", "thanks")


def log_lines(path: Path) -> list[dict[str, object]]:
    """A process's log: one JSON object a line (JOURNEYS_LOG_FORMAT=json)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def messages_sent(lines: list[dict[str, object]]) -> Counter[str]:
    """The `log` channel's messages in a log, by what they say (template and customer)."""
    return Counter(
        str(line["message"]).split(" (journey")[0]
        for line in lines
        if line["logger"] == "journeys.channel.log"
    )


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_worker_finishes_its_batch_and_exits_0(
    cluster: Cluster, stop_with: signal.Signals
):
    api = Api(cluster.start_api(), cluster.token)
    steps: list[dict[str, object]] = [
        {"type": "SEND", "channel": "log", "template": name} for name in TEMPLATES
    ]
    journey_id = running_journey(api, *steps)
    customers = [f"c{i}" for i in range(CUSTOMERS)]
    for start in range(0, CUSTOMERS, 5000):
        enrolled = api.data(ENROLL, id=journey_id, ids=customers[start : start + 5000])
        assert enrolled["enrollCustomers"]["admitted"] == 5000
    total = CUSTOMERS * len(TEMPLATES)

    worker = cluster.start_worker(wait=False)
    wait_until(lambda: delivered(cluster, journey_id) > 0, 60, "the backlog to be under way")
    worker.send_signal(stop_with)
    # A hang guard, well past the bound the worker keeps.
    assert worker.wait(timeout=STOP_SECONDS + 30) == 0

    stopped_log = cluster.log_of(worker)
    lines = log_lines(stopped_log)
    assert not [line for line in lines if "exception" in line or line["level"] == "ERROR"]
    assert "Traceback" not in stopped_log.read_text()
    said = [str(line["message"]) for line in lines]
    assert any(m.startswith("stopping: no new batches") for m in said), said[-10:]
    assert said[-1].startswith("worker stopped cleanly"), said[-10:]
    # It stopped in the middle of the backlog, and what it logged as sent is exactly
    # what it committed: no batch was cut between its messages and its commit.
    done_at_stop = delivered(cluster, journey_id)
    assert 0 < done_at_stop < total
    assert messages_sent(lines).total() == done_at_stop

    cluster.start_worker()
    wait_until(lambda: delivered(cluster, journey_id) == total, 120, "the rest of the backlog")
    assert_each_sent_once(cluster, journey_id, customers=CUSTOMERS, messages=total)
    # Across both workers' logs, each customer got each message once.
    sent = Counter[str]()
    for path in cluster.tmp.glob("worker-*.log"):
        sent += messages_sent(log_lines(path))
    expected = {
        f"delivered template {template!r} to customer {customer!r}": 1
        for template in TEMPLATES
        for customer in customers
    }
    assert sent == expected


@pytest.mark.anyio
async def test_a_loop_still_busy_at_the_deadline_is_cancelled_and_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(jobs.worker, "STOP_SECONDS", 0)
    never_ends = asyncio.create_task(asyncio.Event().wait())  # a batch that overruns
    ctx: jobs.worker.Context = {"stopping": asyncio.Event(), "runners": [never_ends]}
    with caplog.at_level(logging.INFO, logger="jobs.worker"):
        await jobs.worker.shutdown(ctx)
    assert never_ends.cancelled()
    assert ctx["stopping"].is_set() and ctx["cut_off"]
    assert "were cancelled; their uncommitted batches were rolled back" in caplog.text
