"""Loading an audience by condition: the profiles that meet it now, in id order.

A batch is one statement on PostgreSQL: a CTE finds the next profiles after the
load's cursor that meet the condition, and the same statement enters them
(`store.enrollments.enter`, one INSERT ... SELECT, a customer already inside
skipped by the unique index); on SQLite, one SELECT finds where the batch ends
and one INSERT ... SELECT enters it. The condition is compiled for each batch
(domain.condition_sql: its time is the batch's), and the cursor moves in the
same transaction, as for a list (store.loads).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, literal_column, select, update

from domain.condition_sql import compile_condition
from domain.conditions import Condition
from store.compiled import Statement
from store.conditions import PROFILES, bound
from store.enrollments import enter
from store.loads import Loaded
from store.tables import AUDIENCE_LOADS, CUSTOMERS, ENROLLMENTS

_ADVANCE_CONDITION_CURSOR = Statement(
    update(AUDIENCE_LOADS)
    .where(AUDIENCE_LOADS.c.journey_id == bindparam("journey_id"))
    .values(loaded_after=bindparam("through"))
)


# The journey a load by condition enters (its statements are built for each batch).
_CONDITION_JOURNEY = bindparam("journey", type_=ENROLLMENTS.c.journey_id.type)


def load_condition_batch(
    connection: Connection,
    load: Any,
    workspace_id: str,
    condition: Condition,
    limit: int,
    now: datetime,
) -> Loaded | None:
    """Offer the next `limit` profiles (in id order, after the load's cursor) that meet
    the condition now entry, and move the cursor past them; None when no profile after
    the cursor meets it. As for a list, the cursor moves in the same transaction, so
    nobody is offered twice; a batch of fewer than `limit` is the last."""
    sql = compile_condition(condition, connection.dialect.name, now, PROFILES)
    after = "customers.id > :after AND " if load.loaded_after is not None else ""
    matching = f"customers.workspace_id = :workspace AND {after}{sql.text}"
    values = {
        "workspace": workspace_id,
        "after": load.loaded_after,
        "journey": load.journey_id,
        "now": now,
    }
    if connection.dialect.name == "postgresql":
        # The batch is found once, and entered in the same statement.
        batch = (
            bound(
                sql,
                f"SELECT customers.id FROM customers WHERE {matching} "
                "ORDER BY customers.id LIMIT :limit",
            )
            .columns(CUSTOMERS.c.id)
            .cte("batch")
        )
        entered = (
            enter(_CONDITION_JOURNEY, batch.c.id).returning(literal_column("1")).cte("entered")
        )
        row = connection.execute(
            select(
                select(func.max(batch.c.id)).scalar_subquery().label("through"),
                select(func.count()).select_from(batch).scalar_subquery().label("found"),
                select(func.count()).select_from(entered).scalar_subquery().label("entered"),
            ),
            {**values, "limit": limit},
        ).one()
        if row.through is None:
            return None
        _ADVANCE_CONDITION_CURSOR.execute(
            connection, {"journey_id": load.journey_id, "through": row.through}
        )
        return Loaded(int(row.entered), last=row.found < limit)
    through, found = connection.execute(
        bound(
            sql,
            f"SELECT max(id), count(*) FROM (SELECT customers.id FROM customers "
            f"WHERE {matching} ORDER BY customers.id LIMIT :limit) batch",
        ),
        {**values, "limit": limit},
    ).one()
    if through is None:
        return None
    matches = bound(sql, matching)
    statement = enter(
        _CONDITION_JOURNEY, CUSTOMERS.c.id, matches, CUSTOMERS.c.id <= bindparam("through")
    )
    entered_rows = connection.execute(statement, {**values, "through": through}).rowcount
    _ADVANCE_CONDITION_CURSOR.execute(
        connection, {"journey_id": load.journey_id, "through": through}
    )
    return Loaded(int(entered_rows), last=found < limit)
