"""Deleting the oldest status events of a workspace, a batch at a time.

Retention always deletes a prefix of a workspace's log (every event up to a
sequence number) and records that number in `workspaces.pruned_through`, in
the same transaction as the deletion. A reader that reads the events and
then `pruned_through` therefore always notices a deletion that hid events
from it (see `store.queries.pruned_through`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, select, update

from store.tables import EVENTS, WORKSPACES


def workspace_ids(connection: Connection) -> list[str]:
    return list(connection.execute(select(WORKSPACES.c.id).order_by(WORKSPACES.c.id)).scalars())


def prunable_through(connection: Connection, workspace_id: str, cutoff: datetime) -> int:
    """The highest sequence S such that every kept event numbered up to S is older
    than `cutoff` (0 when there is none): the end of the prefix retention may delete.

    An event's time comes from the clock when its command ran, and numbers are
    drawn at commit: times are not strictly in sequence order, so this stops at
    the first recent event rather than deleting every old one.
    """
    in_workspace = EVENTS.c.workspace_id == workspace_id
    first_recent = connection.execute(
        select(func.min(EVENTS.c.sequence)).where(in_workspace, EVENTS.c.at >= cutoff)
    ).scalar()
    if first_recent is not None:
        return int(first_recent) - 1
    last_old = connection.execute(select(func.max(EVENTS.c.sequence)).where(in_workspace)).scalar()
    return int(last_old) if last_old is not None else 0


def delete_batch(
    connection: Connection, workspace_id: str, through: int, limit: int
) -> tuple[int, int] | None:
    """Delete up to `limit` of the oldest events numbered at most `through`, and raise
    `pruned_through` to the highest one deleted. Returns (deleted, highest deleted),
    or None when nothing was left to delete. The caller commits.

    Locks in one order: the old event rows first (no writer ever touches them:
    appending only inserts higher numbers), the workspace row last, just before
    commit. A command appending events holds that row until its own commit;
    we wait for it (briefly) and it never waits for anything we hold but that
    row, so there is no deadlock; and we write only `pruned_through`, never
    `last_sequence`, so sequence assignment is untouched.
    """
    in_workspace = EVENTS.c.workspace_id == workspace_id
    batch = (
        select(EVENTS.c.sequence)
        .where(in_workspace, EVENTS.c.sequence <= through)
        .order_by(EVENTS.c.sequence)
        .limit(limit)
        .subquery()
    )
    found = connection.execute(select(func.max(batch.c.sequence))).scalar()
    if found is None:
        return None
    highest = int(found)
    deleted = connection.execute(delete(EVENTS).where(in_workspace, EVENTS.c.sequence <= highest))
    connection.execute(
        update(WORKSPACES)
        .where(WORKSPACES.c.id == workspace_id, WORKSPACES.c.pruned_through < highest)
        .values(pruned_through=highest)
    )
    return int(deleted.rowcount), highest
