"""Customers' events, append-only: written by `trackEvent(s)`, removed by retention.

A call's events are one INSERT: on PostgreSQL from one JSON parameter
(`store.lists.json_rows`), on SQLite multi-row (SQLAlchemy's insertmanyvalues; a batch
of at most 1,000 events is one statement); retention deletes the
oldest events a batch at a time, each batch one DELETE of the ids a subquery picks
by `at` (the `ix_customer_events_at` index), in its own short transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import JSONB

from store.columns import UTCDateTime
from store.compiled import Statement
from store.lists import json_rows
from store.tables import CUSTOMER_EVENTS


@dataclass(frozen=True)
class NewEvent:
    customer_id: str
    name: str
    properties: Mapping[str, Any]
    at: datetime


# RETURNING makes SQLAlchemy write the batch as one multi-row INSERT on SQLite
# (without it, SQLite's driver would run one INSERT per row).
_RECORD = Statement(insert(CUSTOMER_EVENTS).returning(CUSTOMER_EVENTS.c.id))
# PostgreSQL: the events as one JSON parameter, in one statement of a fixed text.
_EVENTS = json_rows(
    "events", customer_id=String(), name=String(), properties=JSONB(), at=UTCDateTime()
)
_RECORD_JSON = Statement(
    insert(CUSTOMER_EVENTS).from_select(
        ["workspace_id", "customer_id", "name", "properties", "at", "recorded_at"],
        select(
            bindparam("workspace_id", type_=CUSTOMER_EVENTS.c.workspace_id.type),
            _EVENTS.c.customer_id,
            _EVENTS.c.name,
            _EVENTS.c.properties,
            _EVENTS.c.at,
            bindparam("now", type_=CUSTOMER_EVENTS.c.recorded_at.type),
        ).select_from(_EVENTS),
    )
)


def record(
    connection: Connection, workspace_id: str, events: Sequence[NewEvent], now: datetime
) -> int:
    """Append these events of a workspace, in one statement; returns how many."""
    if not events:
        return 0
    if connection.dialect.name == "postgresql":
        given = [
            {
                "customer_id": event.customer_id,
                "name": event.name,
                "properties": event.properties,
                "at": event.at.isoformat(),
            }
            for event in events
        ]
        values = {"events": json.dumps(given), "workspace_id": workspace_id, "now": now}
        return _RECORD_JSON.execute(connection, values)
    rows = [
        {
            "workspace_id": workspace_id,
            "customer_id": event.customer_id,
            "name": event.name,
            "properties": dict(event.properties),
            "at": event.at,
            "recorded_at": now,
        }
        for event in events
    ]
    return len(_RECORD.rows_many(connection, rows))


_OLDEST = (
    select(CUSTOMER_EVENTS.c.id)
    .where(CUSTOMER_EVENTS.c.at < bindparam("cutoff", type_=CUSTOMER_EVENTS.c.at.type))
    .order_by(CUSTOMER_EVENTS.c.at)
    .limit(bindparam("limit"))
)

_DELETE_OLDEST = Statement(
    delete(CUSTOMER_EVENTS).where(CUSTOMER_EVENTS.c.id.in_(_OLDEST.scalar_subquery()))
)


def delete_older_than(connection: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` of the oldest events (of any workspace) that happened
    before `cutoff`; returns how many were deleted (0: none is left). The caller
    commits."""
    return _DELETE_OLDEST.execute(connection, {"cutoff": cutoff, "limit": limit})
