"""Loading: a segment journey's audience entering it, batch by batch, resumably.

A load begins when the journey first becomes ACTIVE and walks its list in
position order (or, store.condition_loads, the profiles that meet its
condition in id order), a batch a statement (`store.enrollments.enter`: one
INSERT ... SELECT, a customer already inside skipped by the unique index),
and keeps its cursor in `audience_loads` in the same transaction, so a load
stopped by a crash, a FREEZE or an ERROR resumes where it stopped and never
admits anyone twice. Here: beginning, picking and finishing loads of either
kind, and a list's batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as insert_or_skip

from domain.statuses import Status, traits
from store.compiled import Statement
from store.enrollments import enter
from store.lists import one_of
from store.tables import (
    AUDIENCE_LISTS,
    AUDIENCE_LOADS,
    AUDIENCE_MEMBERS,
    CUSTOMERS,
    ENROLLMENTS,
    JOURNEYS,
    VERSIONS,
)

# Statuses in which a started load goes on: those that admit (ACTIVE, PAUSED).
_LOADING = [status.value for status in Status if traits(status).admits_new_audience]

# -- loading a list into its journey ------------------------------------------------

_BEGIN_LOAD = Statement(
    insert_or_skip(AUDIENCE_LOADS)
    .from_select(
        ["journey_id", "list_pk", "loaded_through", "started_at"],
        select(
            JOURNEYS.c.id,
            AUDIENCE_LISTS.c.pk,
            literal(0),
            bindparam("now", type_=AUDIENCE_LOADS.c.started_at.type),
        )
        .join(
            VERSIONS,
            (VERSIONS.c.journey_id == JOURNEYS.c.id)
            & (VERSIONS.c.number == JOURNEYS.c.live_version),
        )
        .outerjoin(AUDIENCE_LISTS, AUDIENCE_LISTS.c.id == VERSIONS.c.audience_list)
        .where(
            JOURNEYS.c.id == bindparam("journey_id"),
            VERSIONS.c.audience_list.is_not(None) | VERSIONS.c.audience_condition.is_not(None),
        ),
    )
    .on_conflict_do_nothing()
)


def begin_load(connection: Connection, journey_id: str, now: datetime) -> None:
    """The journey's live audience starts loading (once: a load already begun goes on): its
    list, or the profiles that meet its condition (a load with no list)."""
    _BEGIN_LOAD.execute(connection, {"journey_id": journey_id, "now": now})


def window_is_open(
    start_at: ColumnElement[Any], end_at: ColumnElement[Any], now: ColumnElement[Any]
) -> ColumnElement[bool]:
    """`domain.timing.window_is_open` as SQL (tests/store/test_window_sql.py holds the
    two to the same answers)."""
    return (start_at.is_(None) | (start_at <= now)) & (end_at.is_(None) | (end_at > now))


_NOW = bindparam("now", type_=JOURNEYS.c.start_at.type)
_MORE_TO_LOAD = (
    select(AUDIENCE_MEMBERS.c.position)
    .where(
        AUDIENCE_MEMBERS.c.list_pk == AUDIENCE_LOADS.c.list_pk,
        AUDIENCE_MEMBERS.c.position > AUDIENCE_LOADS.c.loaded_through,
    )
    .exists()
)
# Loads that can move now, locked (those another worker holds are skipped): not
# finished, of journeys in a status that admits, inside their dates (the domain
# checks both again: this only keeps loads that cannot move from filling the
# batch), with customers left to offer, or ACTIVE and ready for AUDIENCE_LOADED.
_LOADS = Statement(
    select(
        AUDIENCE_LOADS.c.journey_id,
        AUDIENCE_LOADS.c.list_pk,
        AUDIENCE_LOADS.c.loaded_through,
        AUDIENCE_LOADS.c.loaded_after,
    )
    .where(
        AUDIENCE_LOADS.c.finished_at.is_(None),
        AUDIENCE_LOADS.c.journey_id.in_(
            select(JOURNEYS.c.id).where(
                JOURNEYS.c.id == AUDIENCE_LOADS.c.journey_id,
                JOURNEYS.c.status.in_(_LOADING),
                window_is_open(JOURNEYS.c.start_at, JOURNEYS.c.end_at, _NOW),
                # A load by condition cannot tell it has more without running it.
                _MORE_TO_LOAD
                | AUDIENCE_LOADS.c.list_pk.is_(None)
                | (JOURNEYS.c.status == Status.ACTIVE.value),
            )
        ),
    )
    .order_by(AUDIENCE_LOADS.c.started_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)

# The journeys of those loads, held FOR SHARE for the batch: a status change
# committed meanwhile waits for it, so counters and ABORT's count never race.
_LOADING_JOURNEYS = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.workspace_id,
        JOURNEYS.c.status,
        JOURNEYS.c.start_at,
        JOURNEYS.c.end_at,
        VERSIONS.c.audience_condition,
    )
    .join(
        VERSIONS,
        (VERSIONS.c.journey_id == JOURNEYS.c.id) & (VERSIONS.c.number == JOURNEYS.c.live_version),
    )
    .where(one_of(JOURNEYS.c.id, "ids"))
    .with_for_update(of=JOURNEYS, read=True)
)

_NEXT_POSITIONS = (
    select(AUDIENCE_MEMBERS.c.position)
    .where(
        AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
        AUDIENCE_MEMBERS.c.position > bindparam("after"),
    )
    .order_by(AUDIENCE_MEMBERS.c.position)
    .limit(bindparam("limit"))
    .subquery()
)
# Where the next batch of a load ends (the last of the next `limit` positions), and
# how many it holds: fewer than `limit`, it is the list's last.
_BATCH_END = Statement(select(func.max(_NEXT_POSITIONS.c.position), func.count()))

# One parameter for the three times a loaded customer gets (due, entered, updated):
# bound once, converted once.
_ENTERED_AT = bindparam("now", type_=ENROLLMENTS.c.entered_at.type)
_ENTER_MEMBERS = Statement(
    enter(
        bindparam("journey_id", type_=ENROLLMENTS.c.journey_id.type),
        AUDIENCE_MEMBERS.c.customer_id,
        AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
        AUDIENCE_MEMBERS.c.position > bindparam("after"),
        AUDIENCE_MEMBERS.c.position <= bindparam("through"),
    )
)

# The loaded customers' profiles, created where missing (an enrollment creates one).
_PROFILES = Statement(
    insert_or_skip(CUSTOMERS)
    .from_select(
        ["workspace_id", "id", "attributes", "created_at", "updated_at"],
        select(
            bindparam("workspace_id", type_=CUSTOMERS.c.workspace_id.type),
            AUDIENCE_MEMBERS.c.customer_id,
            bindparam("empty", type_=CUSTOMERS.c.attributes.type),
            _ENTERED_AT,  # created_at
            _ENTERED_AT,  # updated_at
        ).where(
            AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
            AUDIENCE_MEMBERS.c.position > bindparam("after"),
            AUDIENCE_MEMBERS.c.position <= bindparam("through"),
        ),
    )
    .on_conflict_do_nothing()
)

_ADVANCE_CURSOR = Statement(
    update(AUDIENCE_LOADS)
    .where(AUDIENCE_LOADS.c.journey_id == bindparam("journey_id"))
    .values(loaded_through=bindparam("through"))
)

_FINISH = Statement(
    update(AUDIENCE_LOADS)
    .where(AUDIENCE_LOADS.c.journey_id == bindparam("journey_id"))
    .values(finished_at=bindparam("now", type_=AUDIENCE_LOADS.c.finished_at.type))
)


def loads_to_run(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """(journey_id, list_pk, loaded_through) of loads that can move now, locked."""
    return _LOADS.rows(connection, {"now": now, "limit": limit})


def loading_journeys(connection: Connection, journey_ids: Sequence[str]) -> dict[str, Any]:
    """{id: (id, workspace_id, status, start_at, end_at, audience_condition)}, held against
    status changes."""
    rows = _LOADING_JOURNEYS.rows(connection, {"ids": list(journey_ids)})
    return {row.id: row for row in rows}


class Loaded(NamedTuple):
    """What a load batch did: how many entered, and whether it was the load's last
    (fewer than it could take were left: the load is done)."""

    entered: int
    last: bool


def load_batch(
    connection: Connection, load: Any, workspace_id: str, limit: int, now: datetime
) -> Loaded | None:
    """Offer the next `limit` customers of a load entry, first step due now, and move
    its cursor past them; None when the list is done. A customer already inside
    (enrolled another way) is skipped, and so is one already offered: the cursor
    moves in the same transaction."""
    values = {"list_pk": load.list_pk, "after": load.loaded_through}
    through, found = _BATCH_END.first(connection, {**values, "limit": limit})
    if through is None:
        return None
    entered = _ENTER_MEMBERS.execute(
        connection, {**values, "through": through, "journey_id": load.journey_id, "now": now}
    )
    _PROFILES.execute(
        connection,
        {**values, "through": through, "workspace_id": workspace_id, "empty": {}, "now": now},
    )
    _ADVANCE_CURSOR.execute(connection, {"journey_id": load.journey_id, "through": through})
    return Loaded(entered, last=found < limit)


def finish_load(connection: Connection, journey_id: str, now: datetime) -> None:
    _FINISH.execute(connection, {"journey_id": journey_id, "now": now})
