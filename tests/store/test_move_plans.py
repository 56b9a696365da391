"""PostgreSQL moves a batch of customers by primary key, whatever its statistics say:
after a bulk enrolment, before any ANALYZE, the partial index on the customers inside
once looked cheaper to it, and every batch scanned all of them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from service.services import Services
from store import moving
from tests.conftest import T0, Callers
from tests.service.flows import running, send

pytestmark = pytest.mark.anyio


async def test_a_batch_is_moved_by_primary_key_before_any_analyze(
    services: Services, callers: Callers, database_url: str
):
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL plan")
    journey = await running(services, callers, send("offer"))
    await services.entry.enroll(callers.editor, journey.id, [f"c{i}" for i in range(5000)])

    def plan(connection: sa.Connection) -> str:
        ids = connection.execute(sa.text("SELECT id FROM enrollments LIMIT 1000")).scalars()
        compiled = moving._MOVE_EVERYONE.statement.compile(dialect=connection.dialect)
        moved = {"new_node_key": "offer", "new_due_at": None, "new_state": "COMPLETED"}
        given = {"ids": list(ids), "at": "", "new_step_index": 1, "now": T0, **moved}
        values = compiled.construct_params(given)
        explained = connection.exec_driver_sql(f"EXPLAIN {compiled}", values)
        return "\n".join(row[0] for row in explained)

    found = await services.database.read(plan)
    # A table this small may be read whole; what must never be is an index of everyone
    # inside, which at a million customers is a million rows read for every batch.
    assert not {"ix_enrollments_journey_due", "ux_enrollments_inside"} & set(found.split()), found
