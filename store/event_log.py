"""The append-only status event log and its workspace-wide sequence."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, insert, update

from domain.events import LoggedStatusChange, StatusChanged
from store.compiled import Statement
from store.mapping import event_values
from store.tables import EVENTS, WORKSPACES

_BUMP = Statement(
    update(WORKSPACES)
    .where(WORKSPACES.c.id == bindparam("workspace_id"))
    .values(last_sequence=WORKSPACES.c.last_sequence + bindparam("count"))
    .returning(WORKSPACES.c.last_sequence)
)
_INSERT = Statement(insert(EVENTS))


def append_all(
    connection: Connection, workspace_id: str, changes: Sequence[StatusChanged]
) -> list[LoggedStatusChange]:
    """Number `changes` in order and append them to the log: two statements, however many."""
    # Bumping the counter row locks it until this transaction ends, so a
    # second writer in the same workspace waits for our commit before it
    # draws its numbers: sequences are handed out in commit order.
    last = _BUMP.scalar(connection, {"workspace_id": workspace_id, "count": len(changes)})
    first = int(last) - len(changes) + 1
    logged = [
        LoggedStatusChange(first + offset, workspace_id, change)
        for offset, change in enumerate(changes)
    ]
    values = [event_values(workspace_id, e.sequence, e.change) for e in logged]
    if len(values) == 1:
        _INSERT.execute(connection, values[0])
    else:
        _INSERT.execute_many(connection, values)
    return logged
