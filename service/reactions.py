"""What a status change sets off in the database, in the transaction that records it.

Each reaction pairs the domain's rule for which changes call for it with a small
handler that makes the write. The unit of work runs them at commit, change by
change in the order the changes are logged, before it logs them: whatever a
status change means for the audience is committed with the change, or not at all.
A handler that leaves work for after the COMMIT notes it on the unit of work
(`AfterCommit`); the commands' after-commit hand-off does it.
"""

from __future__ import annotations

from enum import Enum

from domain.audience import begins_loading
from domain.channels import ends_failure_run
from domain.events import StatusChanged
from domain.statuses import exits_customers
from store import loads
from store.counters import count_everyone_out, end_failure_run
from store.unit_of_work import Reaction, UnitOfWork


class AfterCommit(Enum):
    """Work a reaction leaves for once its transaction has committed."""

    ANNOUNCE_WORK = "ANNOUNCE_WORK"  # the loaders look at once


def start_loading_audience(uow: UnitOfWork, change: StatusChanged) -> None:
    loads.begin_load(uow.connection, change.journey_id, change.at)
    uow.after_commit.add(AfterCommit.ANNOUNCE_WORK)


def exit_everyone(uow: UnitOfWork, change: StatusChanged) -> None:
    # Everyone inside is out, and their queued messages cancelled, as of this
    # commit: the counters say so now; workers settle the rows.
    count_everyone_out(uow.connection, change.journey_id)


def restart_failure_count(uow: UnitOfWork, change: StatusChanged) -> None:
    end_failure_run(uow.connection, change.journey_id)


REACTIONS: tuple[Reaction, ...] = (
    Reaction(
        selects=lambda journey, change: begins_loading(journey.kind, change.status),
        handle=start_loading_audience,
    ),
    Reaction(
        selects=lambda _, change: exits_customers(change.status),
        handle=exit_everyone,
    ),
    Reaction(
        selects=lambda _, change: ends_failure_run(change.previous_status, change.status),
        handle=restart_failure_count,
    ),
)
"""Every command's reactions, run in this order for each change."""
