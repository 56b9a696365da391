"""The read side: what the API shows, one statement per page or per batch.

Plain functions over a connection; `service/reads.py` runs each read in one
hop to a database thread, in one snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, exists, func, select

from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from domain.statuses import INITIAL_STATUS, Status
from domain.timing import TIMED_ACTIONS
from store.compiled import Statement
from store.journey_rows import VERSION_COLUMNS, journeys_where, read_journeys
from store.lists import one_of
from store.mapping import event_from_row, version_from_row
from store.tables import EVENTS, JOURNEYS, LABELS, VERSIONS, WORKSPACES

_IN_WORKSPACE = JOURNEYS.c.workspace_id == bindparam("workspace_id")
_BY_ID = Statement(journeys_where(JOURNEYS.c.id == bindparam("journey_id"), _IN_WORKSPACE))
_BY_IDS = Statement(journeys_where(one_of(JOURNEYS.c.id, "journey_ids"), _IN_WORKSPACE))


def journeys_by_id(
    connection: Connection, workspace_id: str, journey_ids: Sequence[str]
) -> dict[str, Journey]:
    values = {"workspace_id": workspace_id, "journey_ids": list(journey_ids)}
    if len(journey_ids) == 1:
        found = read_journeys(connection, _BY_ID, {**values, "journey_id": journey_ids[0]})
    else:
        found = read_journeys(connection, _BY_IDS, values)
    return {journey.id: journey for _, journey in found}


_AFTER = JOURNEYS.alias("after_journey")
# The cursor's journey, looked up in the caller's workspace only: a cursor names a
# journey by its public id, and its row position never leaves the database.
_CURSOR_IN_WORKSPACE = (_AFTER.c.id == bindparam("after_id")) & (
    _AFTER.c.workspace_id == bindparam("workspace_id")
)
_CURSOR_FOUND = exists().where(_CURSOR_IN_WORKSPACE).label("cursor_found")
_BEFORE_CURSOR = JOURNEYS.c.pk < select(_AFTER.c.pk).where(_CURSOR_IN_WORKSPACE).scalar_subquery()


@cache
def _page_statements(
    statuses: bool, kind: bool, name: bool, label: bool, after: bool
) -> tuple[Statement, Statement]:
    """The count and the page for a filter of this shape (which parts are given),
    built once per shape; the values are bound when they run."""
    conditions: list[ColumnElement[bool]] = [_IN_WORKSPACE]
    if statuses:
        conditions.append(one_of(JOURNEYS.c.status, "statuses"))
    if kind:
        conditions.append(JOURNEYS.c.kind == bindparam("kind"))
    if name:
        conditions.append(func.lower(JOURNEYS.c.name).like(bindparam("pattern"), escape="\\"))
    if label:
        labelled = select(LABELS.c.journey_id).where(LABELS.c.label == bindparam("label"))
        conditions.append(JOURNEYS.c.id.in_(labelled))
    count = select(func.count()).select_from(JOURNEYS).where(*conditions)
    if after:
        # The count row also says whether the cursor names a journey of the
        # workspace: an unknown one is refused, not answered with an empty page.
        count = count.add_columns(_CURSOR_FOUND)
        conditions.append(_BEFORE_CURSOR)
    page = journeys_where(*conditions).order_by(JOURNEYS.c.pk.desc()).limit(bindparam("limit"))
    return Statement(count), Statement(page)


@dataclass(frozen=True)
class FoundPage:
    journeys: list[Journey]  # up to `first + 1`, newest first
    total_count: int
    cursor_found: bool  # False: `after_id` names no journey of the workspace


def journeys_page(
    connection: Connection,
    workspace_id: str,
    *,
    statuses: Sequence[Status],
    kind: str | None,
    name_contains: str | None,
    label: str | None,
    first: int,
    after_id: str | None,
) -> FoundPage:
    """Up to `first + 1` journeys, newest first, older than the journey `after_id`
    (to tell whether a next page exists), and how many match in all."""
    count, page = _page_statements(
        bool(statuses),
        kind is not None,
        bool(name_contains),
        label is not None,
        after_id is not None,
    )
    values: dict[str, Any] = {
        "workspace_id": workspace_id,
        "statuses": [status.value for status in statuses],
        "kind": kind,
        "pattern": "%" + _escape_like((name_contains or "").lower()) + "%",
        "label": label,
        "after_id": after_id,
        "limit": first + 1,
    }
    counted = count.rows(connection, values)[0]
    if after_id is not None and not counted.cursor_found:
        return FoundPage([], int(counted[0]), cursor_found=False)
    journeys = [journey for _, journey in read_journeys(connection, page, values)]
    return FoundPage(journeys, int(counted[0]), cursor_found=True)


_STATUS_COUNTS = Statement(
    select(JOURNEYS.c.status, func.count()).where(_IN_WORKSPACE).group_by(JOURNEYS.c.status)
)


def status_counts(connection: Connection, workspace_id: str) -> dict[Status, int]:
    rows = _STATUS_COUNTS.rows(connection, {"workspace_id": workspace_id})
    counted = {Status(status): int(count) for status, count in rows}
    return {status: counted.get(status, 0) for status in Status}


@cache
def _events_statement(of_journey: bool, after: bool) -> Statement:
    statement = select(EVENTS).where(EVENTS.c.workspace_id == bindparam("workspace_id"))
    if of_journey:
        statement = statement.where(EVENTS.c.journey_id == bindparam("journey_id"))
    if after:
        statement = statement.where(EVENTS.c.sequence > bindparam("after"))
    return Statement(statement.order_by(EVENTS.c.sequence).limit(bindparam("limit")))


def status_events(
    connection: Connection,
    workspace_id: str,
    *,
    journey_id: str | None = None,
    after: int | None = None,
    first: int = 100,
) -> list[LoggedStatusChange]:
    statement = _events_statement(journey_id is not None, after is not None)
    rows = statement.rows(
        connection,
        {"workspace_id": workspace_id, "journey_id": journey_id, "after": after, "limit": first},
    )
    return [event_from_row(row) for row in rows]


_SINCE = Statement(
    select(EVENTS)
    .where(
        EVENTS.c.workspace_id == bindparam("workspace_id"),
        EVENTS.c.sequence > bindparam("after"),
        EVENTS.c.at >= bindparam("since", type_=EVENTS.c.at.type),
    )
    .order_by(EVENTS.c.sequence)
    .limit(bindparam("limit"))
)


def status_events_since(
    connection: Connection, workspace_id: str, since: datetime, after: int, first: int
) -> list[LoggedStatusChange]:
    """Up to `first` events of a workspace logged at or after `since`, with a sequence
    above `after`, in log order (a page of `JourneyReads.audit_trail`)."""
    rows = _SINCE.rows(
        connection,
        {"workspace_id": workspace_id, "after": after, "since": since, "limit": first},
    )
    return [event_from_row(row) for row in rows]


_RANK = (
    func.row_number()
    .over(partition_by=EVENTS.c.journey_id, order_by=EVENTS.c.sequence)
    .label("rank")
)
_RANKED = (
    select(EVENTS, _RANK)
    .where(
        EVENTS.c.workspace_id == bindparam("workspace_id"),
        one_of(EVENTS.c.journey_id, "journey_ids"),
    )
    .subquery()
)
_HISTORIES = Statement(
    select(_RANKED).where(_RANKED.c.rank <= bindparam("first")).order_by(_RANKED.c.sequence)
)


def histories(
    connection: Connection, workspace_id: str, journey_ids: Sequence[str], first: int
) -> dict[str, list[LoggedStatusChange]]:
    """The first `first` kept events of each journey, ordered by sequence: after
    retention, a journey's history starts at its oldest kept event (no error, unlike
    `JourneyReads.status_events`)."""
    rows = _HISTORIES.rows(
        connection,
        {"workspace_id": workspace_id, "journey_ids": list(journey_ids), "first": first},
    )
    grouped: dict[str, list[LoggedStatusChange]] = defaultdict(list)
    for row in rows:
        grouped[row.journey_id].append(event_from_row(row))
    return grouped


_VERSIONS = Statement(
    select(*VERSION_COLUMNS)
    .where(one_of(VERSIONS.c.journey_id, "journey_ids"))
    .order_by(VERSIONS.c.journey_id, VERSIONS.c.number)
)


def versions(connection: Connection, journey_ids: Sequence[str]) -> dict[str, list[Version]]:
    grouped: dict[str, list[Version]] = defaultdict(list)
    for row in _VERSIONS.rows(connection, {"journey_ids": list(journey_ids)}):
        grouped[row.version_of].append(version_from_row(row))
    return grouped


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_EARLIEST_DUE = [
    Statement(
        select(func.min(JOURNEYS.c[timed.date_field])).where(JOURNEYS.c.status == status.value)
    )
    for status, timed in TIMED_ACTIONS.items()
]


def next_due_at(connection: Connection) -> datetime | None:
    """The earliest planned date of a timed action (START, END), due or not."""
    dates = [statement.scalar(connection) for statement in _EARLIEST_DUE]
    found = [date for date in dates if date is not None]
    return min(found) if found else None


_WORKSPACE = Statement(select(WORKSPACES).where(WORKSPACES.c.id == bindparam("workspace_id")))


def last_sequence(connection: Connection, workspace_id: str) -> int:
    """The highest committed status-event sequence of a workspace (0 before any)."""
    found = _WORKSPACE.first(connection, {"workspace_id": workspace_id})
    return int(found.last_sequence) if found is not None else 0


def pruned_through(connection: Connection, workspace_id: str) -> int:
    """The highest sequence retention has deleted from a workspace's log (0: none): the
    lowest `after` that `JourneyReads.status_events` answers for the whole workspace.

    Read it *after* the events it vouches for: retention deletes and raises it
    in one transaction, so a later read always sees a deletion an earlier
    read of the events was missing.
    """
    found = _WORKSPACE.first(connection, {"workspace_id": workspace_id})
    return int(found.pruned_through) if found is not None else 0


_STATUS = Statement(
    select(JOURNEYS.c.status).where(JOURNEYS.c.id == bindparam("journey_id"), _IN_WORKSPACE)
)
_FIRST_EVENT = Statement(
    select(EVENTS.c.sequence)
    .where(
        EVENTS.c.workspace_id == bindparam("workspace_id"),
        EVENTS.c.journey_id == bindparam("journey_id"),
        EVENTS.c.previous_status == INITIAL_STATUS.value,
    )
    .limit(1)
)


def journey_log_is_whole(connection: Connection, workspace_id: str, journey_id: str) -> bool:
    """Whether retention has deleted none of this journey's status events.

    A journey's first event is the only one that leaves INITIAL_STATUS
    (domain/statuses.py: nothing returns to it), and retention deletes a
    prefix of the log: if that first event is still there, so is every later
    one. A journey still in INITIAL_STATUS, or one that does not exist
    (only a journey that never left it may be deleted), has no events to lose.
    """
    values = {"workspace_id": workspace_id, "journey_id": journey_id}
    # The status first: a journey that leaves INITIAL_STATUS logs its first
    # event in the same transaction, so if the status is past it here, that
    # event exists now and the next read finds it unless retention deleted it.
    status = _STATUS.scalar(connection, values)
    if status is None or status == INITIAL_STATUS.value:
        return True
    return _FIRST_EVENT.scalar(connection, values) is not None
