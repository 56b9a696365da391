"""A journey's counters (`journey_stats`): customers and messages, kept exact.

Set-based: counters change in the transaction that moves the rows they count,
once per journey per batch (one UPDATE a journey, whatever the batch's size),
never by counting rows; a read is one SELECT of the journeys asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from sqlalchemy import Connection, bindparam, select, update

from domain.counters import COUNTERS, JourneyCounters
from store.compiled import Statement
from store.lists import one_of
from store.tables import STATS


def add_to_counters(connection: Connection, changes: Mapping[str, Mapping[str, int]]) -> None:
    """Add to journeys' counters: {journey id: {counter: amount}}; one UPDATE a journey,
    in the order of their ids, so that transactions changing the counters of several
    journeys at once (two workers' batches, an admission) lock their rows in one order
    and never deadlock."""
    for journey_id in sorted(changes):
        amounts = {name: amount for name, amount in changes[journey_id].items() if amount}
        if amounts:
            _counter_update(tuple(sorted(amounts))).execute(
                connection, {"journey": journey_id, **{f"add_{n}": a for n, a in amounts.items()}}
            )


@cache
def _counter_update(names: tuple[str, ...]) -> Statement:
    """Adding to these counters of one journey: built once per set of counters."""
    return Statement(
        update(STATS)
        .where(STATS.c.journey_id == bindparam("journey"))
        .values({name: STATS.c[name] + bindparam(f"add_{name}") for name in names})
    )


_EXIT_COUNTERS = Statement(
    update(STATS)
    .where(STATS.c.journey_id == bindparam("journey"))
    .values(
        exited=STATS.c.exited + STATS.c.inside,
        inside=0,
        cancelled=STATS.c.cancelled + STATS.c.queued,
        queued=0,
    )
)


def count_everyone_out(connection: Connection, journey_id: str) -> None:
    """The journey exits everyone inside and cancels its queued messages: the
    counters say so at once; the rows are settled in batches later
    (`store.exits.settle_exits`)."""
    _EXIT_COUNTERS.execute(connection, {"journey": journey_id})


_COUNTERS = Statement(
    select(STATS.c.journey_id, *(STATS.c[name] for name in COUNTERS)).where(
        one_of(STATS.c.journey_id, "ids")
    )
)


def counters(connection: Connection, journey_ids: Sequence[str]) -> dict[str, JourneyCounters]:
    """The counters of these journeys (one row each)."""
    return {
        row.journey_id: JourneyCounters(**{name: getattr(row, name) for name in COUNTERS})
        for row in _COUNTERS.rows(connection, {"ids": list(journey_ids)})
    }


# -- a channel's run of failures --------------------------------------------------------

_STREAK = Statement(
    update(STATS)
    .where(STATS.c.journey_id == bindparam("journey"))
    .values(failures_in_a_row=STATS.c.failures_in_a_row * bindparam("keep") + bindparam("more"))
    .returning(STATS.c.failures_in_a_row)
)

_END_STREAK = Statement(
    update(STATS).where(STATS.c.journey_id == bindparam("journey")).values(failures_in_a_row=0)
)


def extend_failure_run(connection: Connection, journey_id: str, kept: bool, more: int) -> int:
    """The journey's run of consecutive failures: kept (or ended) and `more` added;
    returns its new length."""
    found = _STREAK.scalar(connection, {"journey": journey_id, "keep": int(kept), "more": more})
    return int(found or 0)


def end_failure_run(connection: Connection, journey_id: str) -> None:
    _END_STREAK.execute(connection, {"journey": journey_id})
