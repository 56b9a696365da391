"""The read side: what the API shows, one statement per page or per batch.

Plain functions over a connection; `service/reads.py` runs each read in one
hop to a database thread, in one snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select

from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from domain.statuses import INITIAL_STATUS, Status
from domain.timing import TIMED_ACTIONS
from store.loading import VERSION_COLUMNS, journeys_where, load_journeys
from store.mapping import event_from_row, version_from_row
from store.tables import EVENTS, JOURNEYS, LABELS, VERSIONS, WORKSPACES


def journeys_by_id(
    connection: Connection, workspace_id: str, journey_ids: Sequence[str]
) -> dict[str, Journey]:
    found = load_journeys(
        connection,
        journeys_where(JOURNEYS.c.id.in_(journey_ids), JOURNEYS.c.workspace_id == workspace_id),
    )
    return {journey.id: journey for _, journey in found}


def journeys_page(
    connection: Connection,
    workspace_id: str,
    *,
    statuses: Sequence[Status],
    kind: str | None,
    name_contains: str | None,
    label: str | None,
    first: int,
    after_position: int | None,
) -> tuple[list[tuple[int, Journey]], int]:
    """Up to `first + 1` journeys, newest first, after a position (to tell whether a
    next page exists), and how many match in all."""
    conditions: list[ColumnElement[bool]] = [JOURNEYS.c.workspace_id == workspace_id]
    if statuses:
        conditions.append(JOURNEYS.c.status.in_([s.value for s in statuses]))
    if kind is not None:
        conditions.append(JOURNEYS.c.kind == kind)
    if name_contains:
        pattern = "%" + _escape_like(name_contains.lower()) + "%"
        conditions.append(func.lower(JOURNEYS.c.name).like(pattern, escape="\\"))
    if label is not None:
        labelled = select(LABELS.c.journey_id).where(LABELS.c.label == label)
        conditions.append(JOURNEYS.c.id.in_(labelled))
    total = connection.execute(
        select(func.count()).select_from(JOURNEYS).where(*conditions)
    ).scalar_one()
    if after_position is not None:
        conditions.append(JOURNEYS.c.pk < after_position)
    statement = journeys_where(*conditions).order_by(JOURNEYS.c.pk.desc()).limit(first + 1)
    return load_journeys(connection, statement), int(total)


def status_counts(connection: Connection, workspace_id: str) -> dict[Status, int]:
    rows = connection.execute(
        select(JOURNEYS.c.status, func.count())
        .where(JOURNEYS.c.workspace_id == workspace_id)
        .group_by(JOURNEYS.c.status)
    )
    counted = {Status(status): int(count) for status, count in rows}
    return {status: counted.get(status, 0) for status in Status}


def status_events(
    connection: Connection,
    workspace_id: str,
    *,
    journey_id: str | None = None,
    after: int | None = None,
    first: int = 100,
) -> list[LoggedStatusChange]:
    statement = select(EVENTS).where(EVENTS.c.workspace_id == workspace_id)
    if journey_id is not None:
        statement = statement.where(EVENTS.c.journey_id == journey_id)
    if after is not None:
        statement = statement.where(EVENTS.c.sequence > after)
    rows = connection.execute(statement.order_by(EVENTS.c.sequence).limit(first))
    return [event_from_row(row) for row in rows]


def histories(
    connection: Connection, workspace_id: str, journey_ids: Sequence[str], first: int
) -> dict[str, list[LoggedStatusChange]]:
    """The first `first` events of each journey, ordered by sequence."""
    rank = (
        func.row_number()
        .over(partition_by=EVENTS.c.journey_id, order_by=EVENTS.c.sequence)
        .label("rank")
    )
    ranked = (
        select(EVENTS, rank)
        .where(EVENTS.c.workspace_id == workspace_id, EVENTS.c.journey_id.in_(journey_ids))
        .subquery()
    )
    rows = connection.execute(
        select(ranked).where(ranked.c.rank <= first).order_by(ranked.c.sequence)
    )
    grouped: dict[str, list[LoggedStatusChange]] = defaultdict(list)
    for row in rows:
        grouped[row.journey_id].append(event_from_row(row))
    return grouped


def versions(connection: Connection, journey_ids: Sequence[str]) -> dict[str, list[Version]]:
    rows = connection.execute(
        select(*VERSION_COLUMNS)
        .where(VERSIONS.c.journey_id.in_(journey_ids))
        .order_by(VERSIONS.c.journey_id, VERSIONS.c.number)
    )
    grouped: dict[str, list[Version]] = defaultdict(list)
    for row in rows:
        grouped[row.version_of].append(version_from_row(row))
    return grouped


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def next_due_at(connection: Connection) -> datetime | None:
    """The earliest planned date of a timed action (START, END), due or not."""
    dates = [
        connection.execute(
            select(func.min(JOURNEYS.c[timed.date_field])).where(
                JOURNEYS.c.status == status.value
            )
        ).scalar_one()
        for status, timed in TIMED_ACTIONS.items()
    ]
    found = [date for date in dates if date is not None]
    return min(found) if found else None


def last_sequence(connection: Connection, workspace_id: str) -> int:
    """The highest committed status-event sequence of a workspace (0 before any)."""
    found = connection.execute(
        select(WORKSPACES.c.last_sequence).where(WORKSPACES.c.id == workspace_id)
    ).scalar()
    return int(found) if found is not None else 0


def pruned_through(connection: Connection, workspace_id: str) -> int:
    """The highest sequence retention has deleted from a workspace's log (0: none).

    Read it *after* the events it vouches for: retention deletes and raises it
    in one transaction, so a later read always sees a deletion an earlier
    read of the events was missing.
    """
    found = connection.execute(
        select(WORKSPACES.c.pruned_through).where(WORKSPACES.c.id == workspace_id)
    ).scalar()
    return int(found) if found is not None else 0


def journey_log_is_whole(connection: Connection, workspace_id: str, journey_id: str) -> bool:
    """Whether retention has deleted none of this journey's status events.

    A journey's first event is the only one that leaves INITIAL_STATUS
    (domain/statuses.py: nothing returns to it), and retention deletes a
    prefix of the log: if that first event is still there, so is every later
    one. A journey still in INITIAL_STATUS, or one that does not exist
    (only a journey that never left it may be deleted), has no events to lose.
    """
    # The status first: a journey that leaves INITIAL_STATUS logs its first
    # event in the same transaction, so if the status is past it here, that
    # event exists now and the next read finds it unless retention deleted it.
    status = connection.execute(
        select(JOURNEYS.c.status).where(
            JOURNEYS.c.id == journey_id, JOURNEYS.c.workspace_id == workspace_id
        )
    ).scalar()
    if status is None or status == INITIAL_STATUS.value:
        return True
    first_event = connection.execute(
        select(EVENTS.c.sequence)
        .where(
            EVENTS.c.workspace_id == workspace_id,
            EVENTS.c.journey_id == journey_id,
            EVENTS.c.previous_status == INITIAL_STATUS.value,
        )
        .limit(1)
    ).scalar()
    return first_event is not None
