"""The append-only status event log and its workspace-wide sequence."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, update

from domain.events import LoggedStatusChange, StatusChanged
from store.mapping import event_values
from store.tables import EVENTS, WORKSPACES


def append_all(
    connection: Connection, workspace_id: str, changes: Sequence[StatusChanged]
) -> list[LoggedStatusChange]:
    """Number `changes` in order and append them to the log: two statements, however many."""
    # Bumping the counter row locks it until this transaction ends, so a
    # second writer in the same workspace waits for our commit before it
    # draws its numbers: sequences are handed out in commit order.
    last = connection.execute(
        update(WORKSPACES)
        .where(WORKSPACES.c.id == workspace_id)
        .values(last_sequence=WORKSPACES.c.last_sequence + len(changes))
        .returning(WORKSPACES.c.last_sequence)
    ).scalar_one()
    first = int(last) - len(changes) + 1
    logged = [
        LoggedStatusChange(first + offset, workspace_id, change)
        for offset, change in enumerate(changes)
    ]
    connection.execute(
        insert(EVENTS), [event_values(workspace_id, e.sequence, e.change) for e in logged]
    )
    return logged
