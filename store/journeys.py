"""The journey repository: reads whole aggregates, locked, and writes back what changed.

It remembers every journey it read or was given (`seen`, as in Cosmic
Python), and `flush` persists them all at once: new journeys in one
multi-row INSERT, changes in one UPDATE per shape of change (a batch of
journeys that all STARTed is one statement), new versions and labels in
one INSERT each. The unit of work calls `flush` at commit and collects the
status events of what was seen; nobody saves a journey by hand. It also
keeps what it wrote (`changes`: created, a new revision, deleted), for the
signal sent after commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    bindparam,
    delete,
    insert,
    or_,
    update,
)

from domain.errors import NotFound
from domain.events import Change, JourneyChanged
from domain.journey import Journey, Version
from domain.timing import TIMED_ACTIONS
from store.compiled import Statement
from store.journey_rows import journeys_where, read_journeys, read_version
from store.lists import one_of
from store.mapping import journey_values, version_values, zero_stats
from store.tables import JOURNEYS, LABELS, STATS, VERSIONS


def is_due(now: BindParameter[Any]) -> ColumnElement[bool]:
    """A timed action is due: `domain.timing.due_action` as SQL, built from its table."""
    conditions = []
    for status, timed in TIMED_ACTIONS.items():
        date = JOURNEYS.c[timed.date_field]
        reached = date <= now
        if timed.due_without_date:
            reached = date.is_(None) | reached
        conditions.append((JOURNEYS.c.status == status.value) & reached)
    return or_(*conditions)


# Built once, compiled once per dialect: a command only binds values.
_LOCKED_BY_ID = Statement(
    journeys_where(
        JOURNEYS.c.id == bindparam("journey_id"),
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
    ).with_for_update(of=JOURNEYS)
)
_DUE = is_due(bindparam("now", type_=JOURNEYS.c.start_at.type))
_LOCKED_DUE = {
    in_workspace: Statement(
        journeys_where(_DUE, *[JOURNEYS.c.workspace_id == bindparam("workspace_id")][:in_workspace])
        .order_by(JOURNEYS.c.pk)
        .limit(bindparam("limit"))
        .with_for_update(of=JOURNEYS, skip_locked=True)
    )
    for in_workspace in (False, True)
}
_INSERT_JOURNEYS = Statement(insert(JOURNEYS))
_INSERT_VERSIONS = Statement(insert(VERSIONS))
_INSERT_LABELS = Statement(insert(LABELS))
_DELETE_LABELS = Statement(delete(LABELS).where(one_of(LABELS.c.journey_id, "ids")))
_INSERT_STATS = Statement(insert(STATS))
_DELETE_ONE = [
    Statement(delete(table).where(table.c[column] == bindparam("journey_id")))
    for table, column in (
        (LABELS, "journey_id"),
        (VERSIONS, "journey_id"),
        (STATS, "journey_id"),
        (JOURNEYS, "id"),
    )
]


@cache
def _update_of(columns: tuple[str, ...], many: bool) -> Statement:
    """UPDATE of these columns, and of `revision` by a step, for one journey
    (`journey_id`) or for many (`ids`). No value is named like a column: for an
    UPDATE run through SQLAlchemy, such a value would be SET too."""
    which = one_of(JOURNEYS.c.id, "ids") if many else JOURNEYS.c.id == bindparam("journey_id")
    new_values: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=JOURNEYS.c[name].type) for name in columns
    }
    new_values["revision"] = JOURNEYS.c.revision + bindparam("step")
    return Statement(update(JOURNEYS).where(which).values(new_values))


@dataclass(frozen=True)
class _Snapshot:
    """A journey's columns and labels as read, to write back only what changed."""

    values: dict[str, Any]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, journey: Journey) -> _Snapshot:
        return cls(journey_values(journey), journey.labels)


class JourneyRepository:
    """Every journey it hands out is locked until the transaction ends: `FOR UPDATE`
    on PostgreSQL; on SQLite the transaction holds the database's write lock from
    its start. So a write never races another, and `flush` needs no revision guard."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._seen: dict[str, Journey] = {}
        # What each journey it read looked like then; new journeys have none.
        self._as_read: dict[str, _Snapshot] = {}
        self.changes: list[JourneyChanged] = []

    @property
    def seen(self) -> Iterator[Journey]:
        return iter(self._seen.values())

    def get(self, workspace_id: str, journey_id: str) -> Journey:
        """The journey, locked for this unit of work."""
        found = self._read(_LOCKED_BY_ID, {"journey_id": journey_id, "workspace_id": workspace_id})
        if not found:
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")
        return found[0]

    def lock_due(self, now: datetime, limit: int, workspace_id: str | None = None) -> list[Journey]:
        """Up to `limit` journeys with a due START or END, locked for this unit of work.

        Rows another transaction holds are skipped (PostgreSQL), so workers
        sweeping at once share the work instead of queueing on each other.
        """
        return self._read(
            _LOCKED_DUE[workspace_id is not None],
            {"now": now, "limit": limit, "workspace_id": workspace_id},
        )

    def version(self, journey_id: str, number: int) -> Version | None:
        return read_version(self._connection, journey_id, number)

    def add(self, journey: Journey) -> None:
        self._seen[journey.id] = journey

    def remove(self, journey: Journey) -> None:
        for statement in _DELETE_ONE:
            statement.execute(self._connection, {"journey_id": journey.id})
        self._seen.pop(journey.id, None)
        self._as_read.pop(journey.id, None)
        self.changes.append(
            JourneyChanged(journey.workspace_id, journey.id, journey.revision, Change.DELETED)
        )

    def flush(self) -> None:
        """Write every seen journey's changes, a statement per kind of change."""
        self.changes += self._written()
        new = [journey for journey in self._seen.values() if journey.id not in self._as_read]
        if new:
            _INSERT_JOURNEYS.execute_many(self._connection, [journey_values(j) for j in new])
            _INSERT_STATS.execute_many(self._connection, [zero_stats(j.id) for j in new])
        self._update_changed()
        versions = [
            version_values(journey.id, version)
            for journey in self._seen.values()
            for version in journey.new_versions
        ]
        if versions:
            _INSERT_VERSIONS.execute_many(self._connection, versions)
        self._write_labels()
        for journey in self._seen.values():
            journey.new_versions.clear()
            self._as_read[journey.id] = _Snapshot.of(journey)

    def _written(self) -> list[JourneyChanged]:
        """The journeys this flush creates or moves to a new revision (every change
        of a journey bumps it), before their snapshots are taken afresh; not those
        whose status changed: their logged event tells it, and a second signal would
        double the frames of every burst of transitions."""
        written = []
        for journey in self._seen.values():
            if journey.events:
                continue
            snapshot = self._as_read.get(journey.id)
            if snapshot is None:
                change = Change.CREATED
            elif journey.revision != snapshot.values["revision"]:
                change = Change.UPDATED
            else:
                continue
            written.append(
                JourneyChanged(journey.workspace_id, journey.id, journey.revision, change)
            )
        return written

    def _update_changed(self) -> None:
        # Journeys whose columns changed the same way (same new values, same
        # revision step) are written by one UPDATE.
        groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for journey_id, snapshot in self._as_read.items():
            values = journey_values(self._seen[journey_id])
            changed = {
                name: value
                for name, value in values.items()
                if name != "revision" and snapshot.values[name] != value
            }
            step = values["revision"] - snapshot.values["revision"]
            if changed or step:
                groups[(step, *sorted(changed.items()))].append(journey_id)
        for (step, *changes), ids in groups.items():
            many = len(ids) > 1
            statement = _update_of(tuple(name for name, _ in changes), many)
            values = {f"new_{name}": value for name, value in changes}
            values.update({"ids": ids} if many else {"journey_id": ids[0]}, step=step)
            written = statement.execute(self._connection, values)
            if written != len(ids):
                # They were locked when read: this is a bug, not a race.
                raise RuntimeError(f"{len(ids) - written} locked journey(s) vanished")

    def _write_labels(self) -> None:
        relabelled = [
            journey
            for journey in self._seen.values()
            if journey.labels != (s.labels if (s := self._as_read.get(journey.id)) else ())
        ]
        stale = [journey.id for journey in relabelled if journey.id in self._as_read]
        if stale:
            _DELETE_LABELS.execute(self._connection, {"ids": stale})
        rows = [
            {"journey_id": journey.id, "label": label}
            for journey in relabelled
            for label in journey.labels
        ]
        if rows:
            _INSERT_LABELS.execute_many(self._connection, rows)

    def _read(self, statement: Statement, values: dict[str, Any]) -> list[Journey]:
        journeys = [journey for _, journey in read_journeys(self._connection, statement, values)]
        for journey in journeys:
            self._seen[journey.id] = journey
            self._as_read[journey.id] = _Snapshot.of(journey)
        return journeys
