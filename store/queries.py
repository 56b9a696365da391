"""The read side: what the API shows, one query per page or per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.content import JourneyKind
from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from domain.statuses import INITIAL_STATUS, Status
from domain.timing import TIMED_ACTIONS
from store.journeys import load_journeys, with_latest_version
from store.mapping import event_from_row, version_from_row
from store.tables import (
    JourneyLabelRow,
    JourneyRow,
    JourneyVersionRow,
    StatusEventRow,
    WorkspaceRow,
)


@dataclass(frozen=True)
class JourneyFilter:
    statuses: Sequence[Status] = field(default_factory=tuple)
    kind: JourneyKind | None = None
    name_contains: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class JourneyPage:
    journeys: list[tuple[int, Journey]]  # (cursor position, journey), newest first
    total_count: int
    has_next_page: bool


async def journey(session: AsyncSession, workspace_id: str, journey_id: str) -> Journey | None:
    found = await load_journeys(
        session,
        with_latest_version().where(
            JourneyRow.id == journey_id, JourneyRow.workspace_id == workspace_id
        ),
    )
    return found[0][1] if found else None


async def journeys_by_id(
    session: AsyncSession, workspace_id: str, journey_ids: Sequence[str]
) -> dict[str, Journey]:
    found = await load_journeys(
        session,
        with_latest_version().where(
            col(JourneyRow.id).in_(journey_ids), JourneyRow.workspace_id == workspace_id
        ),
    )
    return {journey.id: journey for _, journey in found}


async def journeys_page(
    session: AsyncSession,
    workspace_id: str,
    where: JourneyFilter,
    first: int,
    after_position: int | None,
) -> JourneyPage:
    conditions: list[ColumnElement[bool]] = [col(JourneyRow.workspace_id) == workspace_id]
    if where.statuses:
        conditions.append(col(JourneyRow.status).in_([s.value for s in where.statuses]))
    if where.kind is not None:
        conditions.append(col(JourneyRow.kind) == where.kind.value)
    if where.name_contains:
        pattern = "%" + _escape_like(where.name_contains.lower()) + "%"
        conditions.append(func.lower(JourneyRow.name).like(pattern, escape="\\"))
    if where.label is not None:
        labelled = select(JourneyLabelRow.journey_id).where(JourneyLabelRow.label == where.label)
        conditions.append(col(JourneyRow.id).in_(labelled))
    total = await session.exec(select(func.count()).select_from(JourneyRow).where(*conditions))
    page_conditions = list(conditions)
    if after_position is not None:
        page_conditions.append(col(JourneyRow.pk) < after_position)
    statement = (
        with_latest_version()
        .where(*page_conditions)
        .order_by(col(JourneyRow.pk).desc())
        .limit(first + 1)
    )
    found = await load_journeys(session, statement)
    return JourneyPage(found[:first], int(total.one()), has_next_page=len(found) > first)


async def status_counts(session: AsyncSession, workspace_id: str) -> dict[Status, int]:
    rows = await session.exec(
        select(JourneyRow.status, func.count())
        .where(JourneyRow.workspace_id == workspace_id)
        .group_by(JourneyRow.status)
    )
    counted = {Status(status): int(count) for status, count in rows.all()}
    return {status: counted.get(status, 0) for status in Status}


async def status_events(
    session: AsyncSession,
    workspace_id: str,
    *,
    journey_id: str | None = None,
    after: int | None = None,
    first: int = 100,
) -> list[LoggedStatusChange]:
    statement = select(StatusEventRow).where(StatusEventRow.workspace_id == workspace_id)
    if journey_id is not None:
        statement = statement.where(StatusEventRow.journey_id == journey_id)
    if after is not None:
        statement = statement.where(col(StatusEventRow.sequence) > after)
    rows = await session.exec(statement.order_by(col(StatusEventRow.sequence)).limit(first))
    return [event_from_row(row) for row in rows.all()]


async def histories(
    session: AsyncSession, workspace_id: str, journey_ids: Sequence[str], first: int
) -> dict[str, list[LoggedStatusChange]]:
    """The first `first` events of each journey, ordered by sequence."""
    rank = (
        func.row_number()
        .over(
            partition_by=col(StatusEventRow.journey_id),
            order_by=col(StatusEventRow.sequence),
        )
        .label("rank")
    )
    ranked = (
        select(StatusEventRow, rank)
        .where(
            StatusEventRow.workspace_id == workspace_id,
            col(StatusEventRow.journey_id).in_(journey_ids),
        )
        .subquery()
    )
    first_rows = aliased(StatusEventRow, ranked)
    rows = await session.exec(
        select(first_rows).where(ranked.c.rank <= first).order_by(ranked.c.sequence)
    )
    grouped: dict[str, list[LoggedStatusChange]] = defaultdict(list)
    for row in rows.all():
        grouped[row.journey_id].append(event_from_row(row))
    return grouped


async def versions(session: AsyncSession, journey_ids: Sequence[str]) -> dict[str, list[Version]]:
    rows = await session.exec(
        select(JourneyVersionRow)
        .where(col(JourneyVersionRow.journey_id).in_(journey_ids))
        .order_by(col(JourneyVersionRow.journey_id), col(JourneyVersionRow.number))
    )
    grouped: dict[str, list[Version]] = defaultdict(list)
    for row in rows.all():
        grouped[row.journey_id].append(version_from_row(row))
    return grouped


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest planned date of a timed action (START, END), due or not."""
    dates = []
    for status, timed in TIMED_ACTIONS.items():
        earliest = select(func.min(getattr(JourneyRow, timed.date_field)))
        dates.append((await session.exec(earliest.where(JourneyRow.status == status.value))).one())
    found = [date for date in dates if date is not None]
    return min(found) if found else None


async def last_sequence(session: AsyncSession, workspace_id: str) -> int:
    """The highest committed status-event sequence of a workspace (0 before any)."""
    row = await session.get(WorkspaceRow, workspace_id)
    return row.last_sequence if row else 0


async def pruned_through(session: AsyncSession, workspace_id: str) -> int:
    """The highest sequence retention has deleted from a workspace's log (0: none).

    Read it *after* the events it vouches for: retention deletes and raises it
    in one transaction, so a later read always sees a deletion an earlier
    read of the events was missing.
    """
    found = await session.exec(
        select(WorkspaceRow.pruned_through).where(WorkspaceRow.id == workspace_id)
    )
    value = found.first()
    return int(value) if value is not None else 0


async def journey_log_is_whole(session: AsyncSession, workspace_id: str, journey_id: str) -> bool:
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
    status = await session.exec(
        select(JourneyRow.status).where(
            JourneyRow.id == journey_id, JourneyRow.workspace_id == workspace_id
        )
    )
    found = status.first()
    if found is None or found == INITIAL_STATUS.value:
        return True
    first_event = await session.exec(
        select(StatusEventRow.sequence)
        .where(
            StatusEventRow.workspace_id == workspace_id,
            StatusEventRow.journey_id == journey_id,
            StatusEventRow.previous_status == INITIAL_STATUS.value,
        )
        .limit(1)
    )
    return first_event.first() is not None
