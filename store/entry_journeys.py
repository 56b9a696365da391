"""The journeys an entry asks for, held against status changes while it is written.

trackEvents asks for the event-triggered journeys listening for its events'
names, enrollCustomers for the one journey it names: each is one SELECT,
held FOR SHARE, so that a status change waits for the entry (and the entry
sees it). Who may enter is the domain's to say (domain.entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, or_, select

from domain.condition_json import where_from_json
from domain.conditions import AttributeCondition
from domain.content import JourneyKind
from domain.entry import listens_for_events
from domain.flow import DEFAULT_REENTRY, Flow, Reentry
from domain.statuses import PROCESSING_STATUSES, Status, keeps_customers
from store.compiled import Statement
from store.lists import one_of, overlaps
from store.mapping import node_from_json
from store.tables import JOURNEYS, VERSIONS

_LISTENING_STATUSES = [status.value for status in Status if listens_for_events(status)]

# Each journey with its live version's row; outer, so that a journey with no live
# version still comes, its version's columns NULL.
_WITH_LIVE_VERSION = JOURNEYS.outerjoin(
    VERSIONS,
    (VERSIONS.c.journey_id == JOURNEYS.c.id) & (VERSIONS.c.number == JOURNEYS.c.live_version),
)

# EVENT_TRIGGERED journeys listening for these events (domain.entry:
# listens_for_events), held FOR SHARE so a status change waits for this
# admission (and the admission sees it).
_LISTENING = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.status,
        JOURNEYS.c.start_at,
        JOURNEYS.c.end_at,
        JOURNEYS.c.trigger_event,
        VERSIONS.c.trigger_where,
        VERSIONS.c.reentry,
    )
    # The live version's filter on the trigger's properties.
    .select_from(_WITH_LIVE_VERSION)
    .where(
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
        JOURNEYS.c.kind == JourneyKind.EVENT_TRIGGERED.value,
        one_of(JOURNEYS.c.trigger_event, "names"),
        JOURNEYS.c.status.in_(_LISTENING_STATUSES),
    )
    .order_by(JOURNEYS.c.pk)
    .with_for_update(read=True, of=JOURNEYS)
)

_FOR_ADMISSION = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.status,
        JOURNEYS.c.start_at,
        JOURNEYS.c.end_at,
        func.coalesce(VERSIONS.c.reentry, DEFAULT_REENTRY.value).label("reentry"),
    )
    .select_from(_WITH_LIVE_VERSION)
    .where(
        JOURNEYS.c.id == bindparam("journey_id"),
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
    )
    .with_for_update(read=True, of=JOURNEYS)
)


class ListeningJourney(NamedTuple):
    id: str
    status: str
    start_at: datetime | None
    end_at: datetime | None
    trigger_event: str
    # The live version's filter on the trigger's properties (empty: every trigger).
    trigger_where: tuple[AttributeCondition, ...]
    reentry: Reentry


def listening_journeys(
    connection: Connection, workspace_id: str, names: Sequence[str]
) -> list[ListeningJourney]:
    """The event-triggered journeys of a workspace that listen for one of `names`, with
    their live version's `trigger_where`, locked against status changes."""
    rows = _LISTENING.rows(connection, {"workspace_id": workspace_id, "names": list(names)})
    return [
        ListeningJourney(
            row.id,
            row.status,
            row.start_at,
            row.end_at,
            row.trigger_event,
            where_from_json(row.trigger_where, "triggerWhere") if row.trigger_where else (),
            Reentry(row.reentry or DEFAULT_REENTRY),
        )
        for row in rows
    ]


def journey_for_admission(connection: Connection, workspace_id: str, journey_id: str) -> Any:
    """(id, status, start_at, end_at, reentry) of a journey, locked against status
    changes."""
    return _FOR_ADMISSION.first(
        connection, {"workspace_id": workspace_id, "journey_id": journey_id}
    )


# -- journeys whose customers inside a tracked event may move -----------------------

_KEEPING = [status.value for status in Status if keeps_customers(status)]
_PROCESSING = [status.value for status in PROCESSING_STATUSES]

# Journeys with customers inside that these events may take out (their live version's
# goal) or release (a WAIT_FOR_EVENT of theirs waits for one), held FOR SHARE like
# the listening ones.
_REACTING = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.status,
        VERSIONS.c.goal_event,
        VERSIONS.c.goal_where,
        VERSIONS.c.wait_events,
        VERSIONS.c.nodes,
    )
    .join_from(
        JOURNEYS,
        VERSIONS,
        (VERSIONS.c.journey_id == JOURNEYS.c.id) & (VERSIONS.c.number == JOURNEYS.c.live_version),
    )
    .where(
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
        JOURNEYS.c.status.in_(_KEEPING),
        or_(
            one_of(VERSIONS.c.goal_event, "names"),
            (JOURNEYS.c.status.in_(_PROCESSING)) & overlaps(VERSIONS.c.wait_events, "names"),
        ),
    )
    .order_by(JOURNEYS.c.pk)
    .with_for_update(read=True, of=JOURNEYS)
)


class ReactingJourney(NamedTuple):
    id: str
    status: Status
    # Its goal, if one of the events' names (else None), and the goal's filter.
    goal_event: str | None
    goal_where: tuple[AttributeCondition, ...]
    # Its live flow, when it processes and waits for one of the events (else None).
    flow: Flow | None


def reacting_journeys(
    connection: Connection, workspace_id: str, names: Sequence[str]
) -> list[ReactingJourney]:
    """The journeys of a workspace whose customers inside one of these events may take
    out (a goal) or move on (a WAIT_FOR_EVENT, in a journey that processes now),
    locked against status changes."""
    rows = _REACTING.rows(connection, {"workspace_id": workspace_id, "names": list(names)})
    wanted = set(names)
    found = []
    for row in rows:
        status = Status(row.status)
        waits = (
            status in PROCESSING_STATUSES
            and row.wait_events is not None
            and bool(wanted.intersection(row.wait_events))
        )
        found.append(
            ReactingJourney(
                row.id,
                status,
                row.goal_event if row.goal_event in wanted else None,
                where_from_json(row.goal_where, "goalWhere") if row.goal_where else (),
                Flow(tuple(node_from_json(node) for node in row.nodes)) if waits else None,
            )
        )
    return found
