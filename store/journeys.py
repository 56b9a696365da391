"""The journey repository: loads and saves whole aggregates inside a unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from domain.errors import NotFound, RevisionConflict
from domain.journey import Journey, Version
from domain.timing import TIMED_ACTIONS
from store.mapping import journey_from_rows, journey_values, version_from_row, version_row
from store.tables import JourneyLabelRow, JourneyRow, JourneyVersionRow


def with_latest_version() -> Select[JourneyRow, JourneyVersionRow]:
    """Journeys joined with their latest version: what a `Journey` is built from."""
    return select(JourneyRow, JourneyVersionRow).join(
        JourneyVersionRow,
        (col(JourneyVersionRow.journey_id) == col(JourneyRow.id))
        & (col(JourneyVersionRow.number) == col(JourneyRow.latest_version)),
    )


async def load_journeys(
    session: AsyncSession, statement: Select[JourneyRow, JourneyVersionRow]
) -> list[tuple[int, Journey]]:
    """Run a `with_latest_version()` statement: (page position, journey) pairs, labels
    fetched for all of them in one more query."""
    rows = (await session.exec(statement)).all()
    labels: dict[str, list[str]] = {row.id: [] for row, _ in rows}
    if labels:
        found = await session.exec(
            select(JourneyLabelRow).where(col(JourneyLabelRow.journey_id).in_(list(labels)))
        )
        for label in found.all():
            labels[label.journey_id].append(label.label)
    return [(row.pk or 0, journey_from_rows(row, latest, labels[row.id])) for row, latest in rows]


def is_due(now: datetime) -> ColumnElement[bool]:
    """A timed action is due: `domain.timing.due_action` as SQL, built from its table."""
    conditions = []
    for status, timed in TIMED_ACTIONS.items():
        date = col(getattr(JourneyRow, timed.date_field))
        reached = date <= now
        if timed.due_without_date:
            reached = date.is_(None) | reached
        conditions.append((col(JourneyRow.status) == status.value) & reached)
    return or_(*conditions)


JOURNEYS_TABLE: Table = JourneyRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Snapshot:
    """A journey's columns and labels as read, to write back only what changed."""

    values: dict[str, Any]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, journey: Journey) -> _Snapshot:
        return cls(journey_values(journey), journey.labels)


class JourneyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # What each loaded journey looked like when read, to write only what changed
        # and to refuse a save over a concurrent one.
        self._loaded: dict[str, _Snapshot] = {}

    async def get(self, workspace_id: str, journey_id: str) -> Journey:
        """The journey, locked for this unit of work (FOR UPDATE on PostgreSQL)."""
        found = await self._load(
            with_latest_version()
            .where(JourneyRow.id == journey_id, JourneyRow.workspace_id == workspace_id)
            .with_for_update(of=JourneyRow)
        )
        if not found:
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")
        return found[0]

    async def lock_due(
        self, now: datetime, limit: int, workspace_id: str | None = None
    ) -> list[Journey]:
        """Up to `limit` journeys with a due START or END, locked for this unit of work.

        Rows another transaction holds are skipped (PostgreSQL), so workers
        sweeping at once share the work instead of queueing on each other.
        """
        due = is_due(now)
        if workspace_id is not None:
            due = due & (col(JourneyRow.workspace_id) == workspace_id)
        return await self._load(
            with_latest_version()
            .where(due)
            .order_by(col(JourneyRow.pk))
            .limit(limit)
            .with_for_update(of=JourneyRow, skip_locked=True)
        )

    async def _load(self, statement: Select[JourneyRow, JourneyVersionRow]) -> list[Journey]:
        journeys = [journey for _, journey in await load_journeys(self._session, statement)]
        for journey in journeys:
            self._loaded[journey.id] = _Snapshot.of(journey)
        return journeys

    async def version(self, journey_id: str, number: int) -> Version | None:
        row = await self._session.get(JourneyVersionRow, (journey_id, number))
        return version_from_row(row) if row else None

    async def add(self, journey: Journey) -> None:
        await self._session.exec(insert(JourneyRow).values(**journey_values(journey)))
        await self._write_versions_and_labels(journey, old_labels=())

    async def save(self, journey: Journey) -> None:
        loaded = self._loaded[journey.id]
        values = journey_values(journey)
        changed = {name: value for name, value in values.items() if loaded.values[name] != value}
        if changed:
            # A plain Core UPDATE of the changed columns: no ORM session
            # bookkeeping, which was most of the cost of a transition.
            table = JOURNEYS_TABLE
            result = await self._session.exec(
                update(table)
                .where(table.c.id == journey.id, table.c.revision == loaded.values["revision"])
                .values(changed)
            )
            if result.rowcount != 1:
                raise RevisionConflict(
                    "the journey was changed by someone else at the same moment; try again",
                    current_revision=int(loaded.values["revision"]),
                )
        await self._write_versions_and_labels(journey, loaded.labels)
        self._loaded[journey.id] = _Snapshot(values, journey.labels)

    async def remove(self, journey: Journey) -> None:
        for table in (JourneyLabelRow, JourneyVersionRow):
            await self._session.exec(delete(table).where(col(table.journey_id) == journey.id))
        await self._session.exec(delete(JourneyRow).where(col(JourneyRow.id) == journey.id))

    async def _write_versions_and_labels(
        self, journey: Journey, old_labels: tuple[str, ...]
    ) -> None:
        if not journey.new_versions and journey.labels == old_labels:
            return
        if journey.new_versions:
            self._session.add_all([version_row(journey.id, v) for v in journey.new_versions])
            journey.new_versions.clear()
        if journey.labels != old_labels:
            await self._session.exec(
                delete(JourneyLabelRow).where(col(JourneyLabelRow.journey_id) == journey.id)
            )
            self._session.add_all(
                [JourneyLabelRow(journey_id=journey.id, label=label) for label in journey.labels]
            )
        await self._session.flush()
