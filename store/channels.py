"""Webhook endpoints: at most one per workspace, read in bulk by the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as upsert

from store.compiled import Statement
from store.lists import one_of
from store.tables import WEBHOOK_ENDPOINTS

_ENDPOINT = Statement(
    select(
        WEBHOOK_ENDPOINTS.c.url,
        WEBHOOK_ENDPOINTS.c.configured_at,
        WEBHOOK_ENDPOINTS.c.configured_by,
    ).where(WEBHOOK_ENDPOINTS.c.workspace_id == bindparam("workspace_id"))
)

_ENDPOINTS = Statement(
    select(
        WEBHOOK_ENDPOINTS.c.workspace_id, WEBHOOK_ENDPOINTS.c.url, WEBHOOK_ENDPOINTS.c.secret
    ).where(one_of(WEBHOOK_ENDPOINTS.c.workspace_id, "ids"))
)

_insert = upsert(WEBHOOK_ENDPOINTS)
_SET = Statement(
    _insert.on_conflict_do_update(
        index_elements=[WEBHOOK_ENDPOINTS.c.workspace_id],
        set_={
            "url": _insert.excluded.url,
            "secret": _insert.excluded.secret,
            "configured_at": _insert.excluded.configured_at,
            "configured_by": _insert.excluded.configured_by,
        },
    )
)

_CLEAR = Statement(
    delete(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.workspace_id == bindparam("workspace_id"))
)


def endpoint(connection: Connection, workspace_id: str) -> Any:
    """(url, configured_at, configured_by) of the workspace's endpoint, or None."""
    return _ENDPOINT.first(connection, {"workspace_id": workspace_id})


def endpoints(connection: Connection, workspace_ids: Sequence[str]) -> dict[str, Any]:
    """{workspace id: (workspace_id, url, secret)} of those that have one."""
    if not workspace_ids:
        return {}
    rows = _ENDPOINTS.rows(connection, {"ids": list(workspace_ids)})
    return {row.workspace_id: row for row in rows}


def set_endpoint(
    connection: Connection,
    workspace_id: str,
    url: str,
    secret: str,
    now: datetime,
    configured_by: str,
) -> None:
    """Set the workspace's endpoint, replacing the one it had."""
    _SET.execute(
        connection,
        {
            "workspace_id": workspace_id,
            "url": url,
            "secret": secret,
            "configured_at": now,
            "configured_by": configured_by,
        },
    )


def clear_endpoint(connection: Connection, workspace_id: str) -> bool:
    """Remove the workspace's endpoint; False when it had none."""
    return _CLEAR.execute(connection, {"workspace_id": workspace_id}) > 0
