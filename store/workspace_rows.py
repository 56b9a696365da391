"""A table of at most one row per workspace, its settings of one kind (its webhook
endpoint, its email sender, its sending rules): read one, read many at once (a batch's
workspaces), replace, clear. One statement each, built once per table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as upsert

from store.compiled import Statement
from store.lists import one_of


class WorkspaceRows:
    def __init__(self, table: Table) -> None:
        workspace = table.c.workspace_id
        self._one = Statement(select(table).where(workspace == bindparam("workspace_id")))
        self._many = Statement(select(table).where(one_of(workspace, "ids")))
        insert = upsert(table)
        kept = [column.name for column in table.c if column.name != "workspace_id"]
        self._replace = Statement(
            insert.on_conflict_do_update(
                index_elements=[workspace], set_={name: insert.excluded[name] for name in kept}
            )
        )
        self._clear = Statement(delete(table).where(workspace == bindparam("workspace_id")))

    def one(self, connection: Connection, workspace_id: str) -> Any:
        """The workspace's row (every column), or None."""
        return self._one.first(connection, {"workspace_id": workspace_id})

    def many(self, connection: Connection, workspace_ids: Sequence[str]) -> dict[str, Any]:
        """{workspace id: its row} of those of these workspaces that have one."""
        if not workspace_ids:
            return {}
        rows = self._many.rows(connection, {"ids": sorted(set(workspace_ids))})
        return {row.workspace_id: row for row in rows}

    def replace(self, connection: Connection, workspace_id: str, values: Mapping[str, Any]) -> None:
        """Write the workspace's row, replacing the one it had: `values` has every column
        but the workspace's."""
        self._replace.execute(connection, {"workspace_id": workspace_id, **values})

    def clear(self, connection: Connection, workspace_id: str) -> bool:
        """Remove the workspace's row; False when it had none."""
        return self._clear.execute(connection, {"workspace_id": workspace_id}) > 0
