"""Customers onto a new version of their journey's flow (REACTIVATE), by node key.

Both are set-based: the customers at nodes the new version lacks leave in one
UPDATE; those at a node whose wait changed (or whose type did) are due anew, one
UPDATE for each such node, counted from when they reached it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Integer, bindparam, select, update

from domain.flow import Flow
from domain.walking import EnrollmentState
from store.columns import seconds_after, written
from store.compiled import Statement
from store.lists import one_of
from store.mapping import node_from_json
from store.tables import ENROLLMENTS, VERSIONS

NODE_REMOVED = "NODE_REMOVED"

_FLOWS = Statement(
    select(VERSIONS.c.number, VERSIONS.c.nodes).where(
        VERSIONS.c.journey_id == bindparam("journey_id"), one_of(VERSIONS.c.number, "numbers")
    )
)


def version_flows(
    connection: Connection, journey_id: str, numbers: Sequence[int]
) -> dict[int, Flow]:
    """The flows of these versions of a journey, by number."""
    rows = _FLOWS.rows(connection, {"journey_id": journey_id, "numbers": list(numbers)})
    return {row.number: Flow(tuple(node_from_json(node) for node in row.nodes)) for row in rows}


_AT_NODES = (
    ENROLLMENTS.c.journey_id == bindparam("of_journey"),
    ENROLLMENTS.c.state == written(EnrollmentState.INSIDE),
)
_MOMENT = bindparam("now", type_=ENROLLMENTS.c.updated_at.type)
_END_AT_REMOVED = Statement(
    update(ENROLLMENTS)
    .where(*_AT_NODES, one_of(ENROLLMENTS.c.node_key, "keys"))
    .values(
        state=EnrollmentState.EXITED.value,
        exit_reason=NODE_REMOVED,
        due_at=None,
        updated_at=_MOMENT,
    )
    .returning(ENROLLMENTS.c.node_key)
)


def end_at_removed_nodes(
    connection: Connection, journey_id: str, keys: Sequence[str], now: datetime
) -> Counter[str]:
    """The walk of the customers inside at these nodes ends: EXITED, NODE_REMOVED. How
    many left each node."""
    if not keys:
        return Counter()
    rows = _END_AT_REMOVED.rows(
        connection, {"of_journey": journey_id, "keys": list(keys), "now": now}
    )
    return Counter(row.node_key for row in rows)


_DUE_AGAIN = Statement(
    update(ENROLLMENTS)
    .where(
        *_AT_NODES, ENROLLMENTS.c.node_key == bindparam("key", type_=ENROLLMENTS.c.node_key.type)
    )
    .values(
        due_at=seconds_after(ENROLLMENTS.c.reached_at, bindparam("seconds", type_=Integer())),
        updated_at=_MOMENT,
    )
)


def due_again(
    connection: Connection, journey_id: str, key: str, seconds: int, now: datetime
) -> int:
    """The customers inside at node `key` are due `seconds` after they reached it; how
    many there are."""
    values = {"of_journey": journey_id, "key": key, "seconds": seconds, "now": now}
    return _DUE_AGAIN.execute(connection, values)
