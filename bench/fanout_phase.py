"""One phase of fanout.py: one server (the project or the bare broadcast), N subscribers, the
rounds.

A fresh server process on a fresh port (`ws_project.py` or `peer_broadcast.py`), two
warm-up changes with no subscribers, then a clients process (`ws_clients.py`) opens N
subscriptions; once the server's `/metrics` counts N, each round takes `t0`, sends the change
(`pauseJourney` / `resumeJourney`, or `POST /broadcast`) and collects every subscriber's
receipt time. Around it: the server's VmRSS before, once subscribed and after the rounds,
its CPU and the clients' per round, how busy the machine was, its long GC passes, the error
lines of both logs. A phase that fails says why in `Phase.error`; the run goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness import (
    BENCH,
    GraphQLApi,
    Processes,
    busy_between,
    free_port,
    journey_input,
    machine_ticks,
    note,
    process_cpu_seconds,
    scan_log,
    vm_rss_kib,
    wait_healthy,
)
from ws_clients import ClientsProcess
from ws_server import gc_passes

SUBSCRIBERS_METRIC = re.compile(r"^journeys_subscribers (\d+)$", re.MULTILINE)
# Reported by a server that shares one execution among subscribers of the same document.
SHARED_METRIC = re.compile(r"^journeys_shared_subscriptions (\d+)$", re.MULTILINE)


@dataclass
class Round:
    number: int
    change: str
    t0: float
    last: float  # the last receipt (or t0 if none came)
    latencies: list[float]  # seconds, one per subscriber that got the frame
    missing: int
    extra: int
    bad: int
    http_seconds: float
    server_cpu: float | None
    clients_cpu: float | None
    machine_busy: float | None
    gc_ms: float = 0.0  # the server's long GC passes (ws_server) that ended inside the round


@dataclass
class Phase:
    path: str  # "project" or "bare"
    subscribers: int
    rounds: list[Round] = field(default_factory=list)
    subscribe_seconds: float | None = None
    rss_before: int | None = None  # KiB
    rss_subscribed: int | None = None
    rss_after_rounds: int | None = None
    executions: int | None = None  # journeys_shared_subscriptions, where the server has it
    extensions: str = ""
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    log_errors: int = 0
    log_samples: list[str] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [latency for one in self.rounds for latency in one.latencies]

    def percentile_ms(self, share: float, latencies: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if latencies is None else latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    @property
    def missing(self) -> int:
        return sum(one.missing for one in self.rounds)

    @property
    def kib_per_connection(self) -> float | None:
        if self.rss_before is None or self.rss_subscribed is None:
            return None
        return (self.rss_subscribed - self.rss_before) / self.subscribers


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    processes: Processes
    env: dict[str, str]
    token: str
    options: dict[str, Any]  # the project server's uvicorn options
    journey_id: str | None = None
    journey_status: str = "ACTIVE"
    frame: str | None = None  # the project's real `next` frame, replayed by the bare server


async def change_status(run: Run, client: httpx.AsyncClient) -> str:
    """The next change of the ACTIVE or PAUSED journey: pause or resume it."""
    assert run.journey_id is not None
    action, target = ("pause", "PAUSED") if run.journey_status == "ACTIVE" else ("resume", "ACTIVE")
    answer = await GraphQLApi().transition(client, run.journey_id, action)
    if answer["status"] != target:
        raise RuntimeError(f"{action}Journey gave {answer['status']}, not {target}")
    run.journey_status = target
    return target


async def ensure_journey(run: Run, client: httpx.AsyncClient) -> None:
    if run.journey_id is not None:
        return
    api = GraphQLApi()
    journey_id = str((await api.create(client, journey_input("fan-out")))["id"])
    status = (await api.transition(client, journey_id, "activate"))["status"]
    if status != "ACTIVE":
        raise RuntimeError(f"the journey is {status} after activation, not ACTIVE")
    run.journey_id, run.journey_status = journey_id, status


async def read_metric(metrics: httpx.AsyncClient, pattern: re.Pattern[str]) -> int | None:
    with contextlib.suppress(httpx.HTTPError):
        found = pattern.search((await metrics.get("/metrics")).text)
        return int(found.group(1)) if found else None
    return None


async def subscriber_count(metrics: httpx.AsyncClient) -> int | None:
    return await read_metric(metrics, SUBSCRIBERS_METRIC)


async def subscribe_all(
    run: Run, phase: Phase, clients: ClientsProcess, base_url: str, metrics: httpx.AsyncClient
) -> None:
    """Open N connections; return once the server counts N live subscriptions."""
    count, timeout = phase.subscribers, run.args.timeout
    started = time.monotonic()
    connect = asyncio.create_task(
        clients.ask(
            {
                "cmd": "connect",
                "url": base_url.replace("http://", "ws://") + "/graphql",
                "token": run.token,
                "count": count,
                "concurrency": run.args.connect_concurrency,
                "compression": run.args.compression == "deflate",
                "timeout": timeout,
            },
            timeout + 60,
        )
    )
    try:
        while not connect.done():
            await asyncio.wait({connect}, timeout=5)
            if not connect.done():
                live = await subscriber_count(metrics)
                note(f"  {phase.path} N={count}: {live} of {count} subscribed so far")
                run.processes.check_alive()
    finally:
        connect.cancel()
    opened = connect.result()
    phase.extensions = opened["extensions"]
    if opened["failed"]:
        raise RuntimeError(
            f"{opened['failed']} of {count} connections failed: {opened['failure_samples']}"
        )
    live = None
    while time.monotonic() - started < timeout:
        live = await subscriber_count(metrics)
        if live == count:
            phase.subscribe_seconds = time.monotonic() - started
            return
        run.processes.check_alive()
        await asyncio.sleep(0.2)
    raise RuntimeError(
        f"the server counted {live} of {count} subscribers after {timeout:.0f} s (--timeout)"
    )


async def measure_round(
    run: Run,
    phase: Phase,
    number: int,
    clients: ClientsProcess,
    send: Callable[[], Awaitable[str | None]],
    server_pid: int,
) -> dict[str, Any]:
    cpu_before, ticks_before = process_cpu_seconds(server_pid), machine_ticks()
    t0 = time.time()
    expect_status = await send()
    http_seconds = time.time() - t0
    reply = await clients.ask(
        {"cmd": "collect", "expect_status": expect_status, "timeout": run.args.timeout},
        run.args.timeout + 60,
    )
    cpu_after, ticks_after = process_cpu_seconds(server_pid), machine_ticks()
    times: list[float | None] = reply["times"]
    clients_before, clients.cpu = clients.cpu, reply["cpu"]
    phase.rounds.append(
        Round(
            number=number,
            change=expect_status or "broadcast",
            t0=t0,
            last=max((stamp for stamp in times if stamp is not None), default=t0),
            latencies=[stamp - t0 for stamp in times if stamp is not None],
            missing=sum(1 for stamp in times if stamp is None),
            extra=reply["extra"],
            bad=reply["bad"],
            http_seconds=http_seconds,
            server_cpu=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
            clients_cpu=None
            if clients_before is None or reply["cpu"] is None
            else reply["cpu"] - clients_before,
            machine_busy=busy_between(ticks_before, ticks_after),
        )
    )
    phase.problems += reply["bad_samples"]
    if reply["closed_by_server"]:
        phase.problems.append(f"closed by the server (code: count): {reply['closed_by_server']}")
    return reply


def start_server(run: Run, path: str, count: int) -> tuple[str, str, int, Path]:
    """A fresh server process for the phase: (its name, base URL, pid, log)."""
    port = free_port()
    log = run.workdir / f"{path}-{count}.log"
    common = ["--port", str(port), "--ws-ping", str(run.args.ws_ping),
              "--uvicorn-options", json.dumps(run.options)]  # fmt: skip
    if path == "project":
        command = [sys.executable, str(BENCH / "ws_project.py"), *common]
    else:
        frame_file = run.workdir / "frame.txt"
        frame_file.write_text(run.frame or synthetic_frame())
        peer = str(BENCH / "peer_broadcast.py")
        command = [sys.executable, peer, *common, "--frame-file", str(frame_file)]
    name = f"{path} server N={count}"
    note(f"{name}: starting")
    server_pid = run.processes.start(name, command, run.env, log)
    return name, f"http://127.0.0.1:{port}", server_pid, log


async def run_phase(run: Run, path: str, count: int) -> Phase:
    phase = Phase(path, count)
    args = run.args
    name, base_url, server_pid, log = start_server(run, path, count)
    headers = {"Authorization": f"Bearer {run.token}"}
    try:
        async with (
            httpx.AsyncClient(
                base_url=base_url, headers=headers, timeout=args.timeout, trust_env=False
            ) as client,
            httpx.AsyncClient(base_url=base_url, timeout=10.0, trust_env=False) as metrics,
        ):
            await wait_healthy(base_url, run.processes)

            async def send_project() -> str | None:
                return await change_status(run, client)

            async def send_bare() -> str | None:
                response = await client.post("/broadcast")
                response.raise_for_status()
                return None

            send = send_project if path == "project" else send_bare
            if path == "project":
                await ensure_journey(run, client)
            # Warm-up with no subscribers: first-request costs (imports, compiled
            # statements, the keep-alive connection t0 will use) are not in round 1.
            for _ in range(2):
                await send()
            await asyncio.sleep(1.0)
            phase.rss_before = vm_rss_kib(server_pid)
            clients = await ClientsProcess.start(run.workdir / f"clients-{path}-{count}.log")
            try:
                await subscribed_rounds(run, phase, clients, (base_url, metrics), send, server_pid)
            except BaseException:
                clients.kill()
                raise
            finally:
                await clients.stop()
                errors, samples = scan_log(clients.log)
                phase.problems += [
                    f"clients log ({errors} error lines): {line}" for line in samples
                ]
    except (RuntimeError, httpx.HTTPError, OSError, KeyError, ValueError) as error:
        phase.error = f"{type(error).__name__}: {error}"
        note(f"{name}: FAILED: {phase.error}")
    finally:
        run.processes.stop(name)
        phase.log_errors, phase.log_samples = scan_log(log)
        passes = gc_passes(log)
        for one in phase.rounds:
            one.gc_ms = sum(ms for end, ms in passes if one.t0 <= end <= one.last)
    return phase


async def subscribed_rounds(
    run: Run,
    phase: Phase,
    clients: ClientsProcess,
    server: tuple[str, httpx.AsyncClient],
    send: Callable[[], Awaitable[str | None]],
    server_pid: int,
) -> None:
    """N subscribe, the rounds run, the N close (`server`: its base URL, a /metrics client)."""
    name = f"{phase.path} server N={phase.subscribers}"
    base_url, metrics = server
    note(f"{name}: connecting {phase.subscribers} subscribers")
    await subscribe_all(run, phase, clients, base_url, metrics)
    note(f"{name}: {phase.subscribers} subscribed in {phase.subscribe_seconds:.1f} s")
    await asyncio.sleep(1.0)  # let the last subscriptions settle before reading RSS
    phase.rss_subscribed = vm_rss_kib(server_pid)
    if phase.path == "project":
        phase.executions = await read_metric(metrics, SHARED_METRIC)
    baseline = await clients.ask({"cmd": "collect", "timeout": 0}, 60)
    clients.cpu = baseline["cpu"]
    for number in range(1, run.args.rounds + 1):
        await asyncio.sleep(run.args.gap)
        reply = await measure_round(run, phase, number, clients, send, server_pid)
        done = phase.rounds[-1]
        p99 = phase.percentile_ms(0.99, done.latencies)
        note(f"{name}: round {number}: p99 {p99:.1f} ms, missing {done.missing}")
        if phase.path == "project" and run.frame is None and reply["first_frame"]:
            run.frame = reply["first_frame"]
        run.processes.check_alive()
    phase.rss_after_rounds = vm_rss_kib(server_pid)
    closed = await clients.ask({"cmd": "close", "timeout": 60}, 120)
    if closed["aborted"]:
        phase.problems.append(f"{closed['aborted']} connections aborted on close")


def synthetic_frame() -> str:
    """A frame shaped like the project's, for a bare phase whose project phase captured none."""
    event = {
        "sequence": 123,
        "journeyId": "00000000-0000-0000-0000-000000000000",
        "status": "PAUSED",
        "previousStatus": "ACTIVE",
        "action": "PAUSE",
        "at": "2026-01-01T00:00:00.000000Z",
    }
    frame = {"id": "1", "type": "next", "payload": {"data": {"statusChanged": event}}}
    return json.dumps(frame, separators=(",", ":"))  # compact, as Strawberry sends it
