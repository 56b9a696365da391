"""A journey's customers node by node (`node_counters`): kept exact, read in one query.

Like the journey's own counters (store/counters.py), they change in the
transaction that moves the customers they count: one upsert per batch for
every (journey, node, branch) the batch touched, whatever its size. A node's
row (`branch` '') counts the customers `at` it now and those who `reached` it;
a branch's row counts in `reached` those who took it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Connection, String, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as upsert

from domain.flow_walk import Outcome
from store.compiled import Statement
from store.counters import add_to_counters
from store.lists import json_rows, one_of
from store.tables import NODE_COUNTERS

NODE = ""  # the `branch` of a node's own row


@dataclass
class NodeCounts:
    """What a transaction changes in node counters, gathered before one upsert."""

    # (journey id, node key, branch) -> (change to `at`, change to `reached`)
    at: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    reached: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def arrive(self, journey_id: str, key: str, customers: int) -> None:
        """`customers` reached node `key` and are at it."""
        self.at[(journey_id, key, NODE)] += customers
        self.reached[(journey_id, key, NODE)] += customers

    def leave(self, journey_id: str, key: str, customers: int) -> None:
        """`customers` are no longer at node `key`."""
        self.at[(journey_id, key, NODE)] -= customers

    def took(self, journey_id: str, key: str, branch: str, customers: int) -> None:
        """`customers` left node `key` by its `branch`."""
        self.reached[(journey_id, key, branch)] += customers

    def walked(
        self, journey_id: str, at: str | None, applied: str, outcome: Outcome, customers: int
    ) -> None:
        """`customers` at `at` (None: just entered) to whom the node `applied` was applied
        took this outcome: they leave `at` (having reached the entry node on their way,
        when they just entered), are counted under the outcome's branch, and reach its
        target (unless their walk ends)."""
        if not customers:
            return
        if at is None:
            self.arrive(journey_id, applied, customers)
            if outcome.target == applied:  # an entry node they wait at
                return
        self.leave(journey_id, at or applied, customers)
        if outcome.branch is not None:
            self.took(journey_id, applied, outcome.branch, customers)
        if outcome.target is not None:
            self.arrive(journey_id, outcome.target, customers)

    def save(self, connection: Connection, *counters: Mapping[str, Mapping[str, int]]) -> None:
        """Write these changes with the same transaction's changes to the journeys' own
        `counters` (as many mappings as it gathered), each arrival at a node counted there
        too (`node_arrivals`: what the counters' watchers see move). The journeys' counters
        first, then the node counters: every transaction locks a journey's rows in that one
        order, so two of them never deadlock (an event's release, which changes node
        counters only, and a worker's batch, which changes both, once took them in opposite
        orders)."""
        changes: dict[str, Counter[str]] = defaultdict(Counter)
        for gathered in counters:
            for journey_id, amounts in gathered.items():
                changes[journey_id].update(amounts)
        for (journey_id, _, branch), count in self.reached.items():
            if branch == NODE and count > 0:
                changes[journey_id]["node_arrivals"] += count
        add_to_counters(connection, changes)
        add_to_node_counters(connection, self)


def _upsert(rows: Any) -> Any:
    """Adding `rows` (a VALUES or a SELECT) to the counters: a row not there yet is
    inserted, one there is added to."""
    return rows.on_conflict_do_update(
        index_elements=[
            NODE_COUNTERS.c.journey_id,
            NODE_COUNTERS.c.node_key,
            NODE_COUNTERS.c.branch,
        ],
        set_={
            "at": NODE_COUNTERS.c.at + rows.excluded.at,
            "reached": NODE_COUNTERS.c.reached + rows.excluded.reached,
        },
    )


_COLUMNS = ("journey_id", "node_key", "branch", "at", "reached")
# PostgreSQL: the rows as one JSON parameter, a fixed statement text.
_GIVEN = json_rows(
    "rows",
    journey_id=String(),
    node_key=String(),
    branch=String(),
    at=BigInteger(),
    reached=BigInteger(),
)
_UPSERT_JSON = Statement(
    _upsert(
        upsert(NODE_COUNTERS).from_select(
            list(_COLUMNS), select(*(_GIVEN.c[name] for name in _COLUMNS))
        )
    )
)
# SQLite: one multi-row INSERT (RETURNING makes SQLAlchemy write it so).
_UPSERT_EACH = Statement(_upsert(upsert(NODE_COUNTERS)).returning(NODE_COUNTERS.c.at))


def add_to_node_counters(connection: Connection, counts: NodeCounts) -> None:
    """Add these changes, in one statement, row by row in key order: transactions that
    change the same rows lock them in one order and never deadlock."""
    keys = sorted(
        key
        for key in counts.at.keys() | counts.reached.keys()
        if counts.at[key] or counts.reached[key]
    )
    if not keys:
        return
    rows = [
        {
            "journey_id": journey_id,
            "node_key": node_key,
            "branch": branch,
            "at": counts.at[(journey_id, node_key, branch)],
            "reached": counts.reached[(journey_id, node_key, branch)],
        }
        for journey_id, node_key, branch in keys
    ]
    if connection.dialect.name == "postgresql":
        _UPSERT_JSON.execute(connection, {"rows": json.dumps(rows)})
    else:
        _UPSERT_EACH.rows_many(connection, rows)


_EVERYONE_OUT = Statement(
    update(NODE_COUNTERS)
    .where(NODE_COUNTERS.c.journey_id == bindparam("journey"), NODE_COUNTERS.c.at != 0)
    .values(at=0)
)


def count_everyone_out_of_nodes(connection: Connection, journey_id: str) -> None:
    """Nobody is at any node of the journey any more (it exited everyone)."""
    _EVERYONE_OUT.execute(connection, {"journey": journey_id})


_READ = Statement(
    select(
        NODE_COUNTERS.c.journey_id,
        NODE_COUNTERS.c.node_key,
        NODE_COUNTERS.c.branch,
        NODE_COUNTERS.c.at,
        NODE_COUNTERS.c.reached,
    ).where(one_of(NODE_COUNTERS.c.journey_id, "ids"))
)


@dataclass(frozen=True)
class NodeCount:
    at: int
    reached: int
    # branch -> customers who took it
    branches: Mapping[str, int]


def node_counts(
    connection: Connection, journey_ids: Sequence[str]
) -> dict[str, dict[str, NodeCount]]:
    """Each journey's counts by node key, in one query (nodes nobody reached: absent)."""
    raw: dict[str, dict[str, dict[str, Any]]] = {journey_id: {} for journey_id in journey_ids}
    for row in _READ.rows(connection, {"ids": list(journey_ids)}):
        node = raw[row.journey_id].setdefault(row.node_key, {"at": 0, "reached": 0, "branches": {}})
        if row.branch == NODE:
            node["at"], node["reached"] = int(row.at), int(row.reached)
        else:
            node["branches"][row.branch] = int(row.reached)
    return {
        journey_id: {key: NodeCount(**values) for key, values in nodes.items()}
        for journey_id, nodes in raw.items()
    }
