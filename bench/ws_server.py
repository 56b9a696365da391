"""What both of fanout.py's servers (`ws_project.py`, `peer_broadcast.py`) share.

* the process: RLIMIT_NOFILE raised to the hard limit (10,000 sockets), SIGTERM when the
  driver dies, and a cyclic-GC probe that logs each pass of 20 ms or more, so the report can
  tell a collection over N connections' objects from the fan-out's own work (`gc_passes`
  reads them back from the server's log);
* the options: `--host`, `--port`, `--ws-ping`, `--uvicorn-options` (the JSON of
  `harness.project_server_options`), so both servers run with the uvicorn options `journeys
  serve` uses and this run's ping interval, and differ only in the application.

Imports nothing of the project.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from harness import die_with_parent, raise_fd_limit

GC_REPORT_SECONDS = 0.02
GC_LINE = re.compile(r"^fanout-gc (\d+\.\d+) (\d) (\d+\.\d+)$", re.MULTILINE)


def install_gc_probe() -> None:
    """Log each long collection as `fanout-gc <time.time() at its end> <generation> <ms>`."""
    started = [0.0]

    def probe(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took >= GC_REPORT_SECONDS:
            line = f"fanout-gc {time.time():.6f} {info['generation']} {took * 1000:.1f}\n"
            sys.stderr.write(line)
            sys.stderr.flush()

    gc.callbacks.append(probe)


def gc_passes(log: Path) -> list[tuple[float, float]]:
    """The long collections a server logged: (time.time() at its end, milliseconds)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [(float(end), float(ms)) for end, _gen, ms in GC_LINE.findall(text)]


def arguments(prog: str) -> argparse.ArgumentParser:
    """A server's options (its own add to them)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws-ping", type=float, default=20.0)
    parser.add_argument("--uvicorn-options", default="{}")
    return parser


def prepare_process() -> None:
    """Before a server imports its application: the fd limit, the parent, the GC probe."""
    raise_fd_limit()
    die_with_parent()
    install_gc_probe()


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """One set of options for both servers: those `journeys serve` uses, with this run's
    ping interval. The bare server never imports the project to learn them."""
    options: dict[str, Any] = json.loads(args.uvicorn_options)
    ping = args.ws_ping if args.ws_ping > 0 else None
    options.update(ws_ping_interval=ping, ws_ping_timeout=ping)
    return {"host": args.host, "port": args.port, "log_level": "info", **options}
