"""Webhook endpoints: at most one per workspace, read in bulk by the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from store.tables import WEBHOOK_ENDPOINTS
from store.workspace_rows import WorkspaceRows

_ENDPOINTS = WorkspaceRows(WEBHOOK_ENDPOINTS)


def endpoint(connection: Connection, workspace_id: str) -> Any:
    """(url, secret, configured_at, configured_by) of the workspace's endpoint, or None."""
    return _ENDPOINTS.one(connection, workspace_id)


def endpoints(connection: Connection, workspace_ids: Sequence[str]) -> dict[str, Any]:
    """{workspace id: (workspace_id, url, secret, ...)} of those that have one."""
    return _ENDPOINTS.many(connection, workspace_ids)


def set_endpoint(
    connection: Connection,
    workspace_id: str,
    url: str,
    secret: str,
    now: datetime,
    configured_by: str,
) -> None:
    """Set the workspace's endpoint, replacing the one it had."""
    values = {"url": url, "secret": secret, "configured_at": now, "configured_by": configured_by}
    _ENDPOINTS.replace(connection, workspace_id, values)


def clear_endpoint(connection: Connection, workspace_id: str) -> bool:
    """Remove the workspace's endpoint; False when it had none."""
    return _ENDPOINTS.clear(connection, workspace_id)
