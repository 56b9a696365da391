"""What the hand-over of a batch of messages reads, a statement each whatever the batch's
size: the SEND nodes and names of their journeys, each customer's profile and admitting
event, and how many messages went to them lately (a frequency cap's count).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select, text

from domain.flow import Node, NodeType
from store.compiled import Statement
from store.lists import one_of
from store.mapping import node_from_json
from store.tables import CUSTOMERS, DELIVERIES, ENROLLMENTS, JOURNEYS, VERSIONS


@dataclass(frozen=True)
class JourneyMessages:
    """A journey's name and its SEND nodes by key: the live version's, and for a key it
    no longer has, the latest version's that had one (a message queued before a
    REACTIVATE took the node away still goes out as it was written)."""

    name: str
    sends: dict[str, Node]


_VERSIONS = Statement(
    select(JOURNEYS.c.id, JOURNEYS.c.name, VERSIONS.c.nodes)
    .join(VERSIONS, VERSIONS.c.journey_id == JOURNEYS.c.id)
    .where(one_of(JOURNEYS.c.id, "journey_ids"), VERSIONS.c.number <= JOURNEYS.c.live_version)
    .order_by(JOURNEYS.c.id, VERSIONS.c.number)
)


def journey_messages(
    connection: Connection, journey_ids: Sequence[str]
) -> dict[str, JourneyMessages]:
    """{journey id: its name and SEND nodes} of these journeys."""
    found: dict[str, JourneyMessages] = {}
    if not journey_ids:
        return found
    for row in _VERSIONS.rows(connection, {"journey_ids": sorted(set(journey_ids))}):
        sends = found.setdefault(row.id, JourneyMessages(row.name, {})).sends
        for data in row.nodes or ():  # versions in order: the live one's nodes win
            if data["type"] == NodeType.SEND:  # the others are not parsed
                sends[data["key"]] = node_from_json(data)
    return found


@dataclass(frozen=True)
class Recipient:
    """A customer as a message is made for them: the profile's attributes now (empty
    when there is no profile), and the properties of the event that admitted them."""

    attributes: dict[str, Any]
    event: dict[str, Any] | None


_RECIPIENTS = Statement(
    select(ENROLLMENTS.c.id, ENROLLMENTS.c.event_properties, CUSTOMERS.c.attributes)
    .join(JOURNEYS, JOURNEYS.c.id == ENROLLMENTS.c.journey_id)
    .outerjoin(
        CUSTOMERS,
        and_(
            CUSTOMERS.c.workspace_id == JOURNEYS.c.workspace_id,
            CUSTOMERS.c.id == ENROLLMENTS.c.customer_id,
        ),
    )
    .where(one_of(ENROLLMENTS.c.id, "ids"))
)


def recipients(connection: Connection, enrollment_ids: Sequence[int]) -> dict[int, Recipient]:
    """{enrollment id: its customer's attributes and admitting event}."""
    if not enrollment_ids:
        return {}
    rows = _RECIPIENTS.rows(connection, {"ids": sorted(set(enrollment_ids))})
    return {row.id: Recipient(row.attributes or {}, row.event_properties) for row in rows}


_SENT_SINCE = Statement(
    select(DELIVERIES.c.customer_id, func.count())
    .join(JOURNEYS, JOURNEYS.c.id == DELIVERIES.c.journey_id)
    .where(
        one_of(DELIVERIES.c.customer_id, "customer_ids"),
        DELIVERIES.c.handed_over_at >= bindparam("since", type_=DELIVERIES.c.handed_over_at.type),
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
    )
    .group_by(DELIVERIES.c.customer_id)
)


def sent_since(
    connection: Connection, workspace_id: str, customer_ids: Sequence[str], since: datetime
) -> Counter[str]:
    """{customer id: messages handed over to them at or after `since`}, in every journey
    and channel of the workspace."""
    if not customer_ids:
        return Counter()
    values = {
        "customer_ids": sorted(set(customer_ids)),
        "since": since,
        "workspace_id": workspace_id,
    }
    return Counter({row[0]: row[1] for row in _SENT_SINCE.rows(connection, values)})


# The array's elements in its order: the locks are taken in that order.
_LOCK = text("SELECT count(pg_advisory_xact_lock(key)) FROM unnest(CAST(:keys AS bigint[])) AS key")


def lock_customers(connection: Connection, workspace_id: str, customer_ids: Sequence[str]) -> None:
    """PostgreSQL: hold these customers' messages until the transaction ends, so that two
    workers never both count a customer's last message under a cap. Locks are taken in
    one order (of their keys), so two batches never wait on each other in a circle.
    SQLite runs one writing transaction at a time already."""
    if connection.dialect.name != "postgresql" or not customer_ids:
        return
    keys = sorted({_lock_key(workspace_id, customer_id) for customer_id in customer_ids})
    connection.execute(_LOCK, {"keys": keys})


def _lock_key(workspace_id: str, customer_id: str) -> int:
    """A 63-bit key for an advisory lock, the same in every process."""
    digest = zlib.crc32(workspace_id.encode()) << 32 | zlib.crc32(customer_id.encode())
    return digest & 0x7FFF_FFFF_FFFF_FFFF


_LAST_EVENT = Statement(
    select(ENROLLMENTS.c.event_properties)
    .where(
        ENROLLMENTS.c.journey_id == bindparam("journey_id"),
        ENROLLMENTS.c.customer_id == bindparam("customer_id"),
    )
    .order_by(ENROLLMENTS.c.id.desc())
    .limit(1)
)


def last_admitting_event(
    connection: Connection, journey_id: str, customer_id: str
) -> dict[str, Any] | None:
    """The properties of the event that admitted the customer into the journey last
    (None: never admitted by an event)."""
    row = _LAST_EVENT.first(connection, {"journey_id": journey_id, "customer_id": customer_id})
    return row.event_properties if row is not None else None
