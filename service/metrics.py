"""What a process tells Prometheus about itself (prometheus_client).

Each process keeps its own registry: an API process serves it at /metrics,
a worker on JOURNEYS_METRICS_PORT. Prometheus scrapes each process and adds
them up, so nothing here is shared between processes.

Labels are bounded: statuses, actions, channels and outcome codes are the
project's own short lists; operation names come from clients, so only the
first `MAX_OPERATION_NAMES` distinct well-formed names get their own label,
and every other request counts as `other`.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from domain.events import LoggedStatusChange

MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

# Delivery outcomes a transaction recorded, by (channel, outcome): the labels of
# journeys_deliveries, counted once the transaction has committed (`Metrics.delivered`).
Tally = collections.Counter[tuple[str, str]]
OUTCOME_DELIVERED = "DELIVERED"
OUTCOME_FAILED = "FAILED"  # out of attempts, refused for good, or not renderable
OUTCOME_RETRY = "RETRY"  # failed, due again after a delay
OUTCOME_SKIPPED = "SKIPPED"  # a sending rule kept it back


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._operation_names: set[str] = set()
        self.requests = Counter(
            "journeys_requests",
            "GraphQL queries and mutations answered, by operation name and outcome "
            "(OK, or the first error's code).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "journeys_request_seconds",
            "Time to answer a GraphQL query or mutation, by operation name.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.transitions = Counter(
            "journeys_transitions",
            "Status changes committed by this process, by from, to and action.",
            ["from_status", "to_status", "action"],
            registry=self.registry,
        )
        self.timer_lateness = Histogram(
            "journeys_timer_lateness_seconds",
            "How long after its date a START or END was committed.",
            ["action"],
            buckets=_LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "journeys_job_seconds",
            "Passes of the background work (timer, step processor, loader, arq jobs).",
            ["job"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.job_failures = Counter(
            "journeys_job_failures",
            "Passes of the background work that failed (and were tried again).",
            ["job"],
            registry=self.registry,
        )
        self.job_rows = Counter(
            "journeys_job_rows",
            "Rows the background work moved: journeys by the timer, enrollments and "
            "deliveries by the step processor, customers by the loader.",
            ["job"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "journeys_deliveries",
            "Delivery attempts whose outcome was recorded, by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
        )

    def watch(self, name: str, description: str, read: Callable[[], float]) -> None:
        """A gauge read when scraped (subscribers, sockets)."""
        Gauge(name, description, registry=self.registry).set_function(read)

    def exposition(self) -> bytes:
        """Everything, in Prometheus' text format."""
        return generate_latest(self.registry)

    # -- recording ----------------------------------------------------------

    def request(self, operation: str | None, outcome: str, seconds: float) -> None:
        name = self._operation_label(operation)
        self.requests.labels(name, outcome).inc()
        self.request_seconds.labels(name).observe(seconds)

    def committed(
        self,
        logged: Iterable[LoggedStatusChange],
        due_at: Callable[[str, str], datetime | None],
    ) -> None:
        """Status changes just committed; `due_at(journey_id, action)` is the date a
        timed action (START, END) of that journey was due at, if known."""
        for event in logged:
            change = event.change
            self.transitions.labels(
                change.previous_status.value, change.status.value, change.action.value
            ).inc()
            due = due_at(change.journey_id, change.action.value)
            if due is not None:
                late = (change.at - due).total_seconds()
                self.timer_lateness.labels(change.action.value).observe(max(0.0, late))

    def delivered(self, outcomes: Mapping[tuple[str, str], int]) -> None:
        """Delivery outcomes just committed, by (channel, outcome)."""
        for (channel, outcome), count in outcomes.items():
            if count:
                self.deliveries.labels(channel, outcome).inc(count)

    async def job(self, name: str, work: Awaitable[int]) -> int:
        """Run one pass of background work, which returns the rows it moved: timed,
        its rows counted, and a failure counted and raised again."""
        started = time.perf_counter()
        try:
            rows = await work
        except Exception:
            self.job_failures.labels(name).inc()
            raise
        finally:
            self.job_seconds.labels(name).observe(time.perf_counter() - started)
        self.job_rows.labels(name).inc(rows)
        return rows

    def _operation_label(self, operation: str | None) -> str:
        if not operation:
            return "anonymous"
        if operation in self._operation_names:
            return operation
        if len(self._operation_names) < MAX_OPERATION_NAMES and _OPERATION_NAME.fullmatch(
            operation
        ):
            self._operation_names.add(operation)
            return operation
        return "other"
