"""Email senders: at most one SMTP server per workspace, read in bulk by the email
channel (service/email_channel.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from domain.email import EmailSecurity, EmailSenderSettings
from store.tables import EMAIL_SENDERS
from store.workspace_rows import WorkspaceRows

_SENDERS = WorkspaceRows(EMAIL_SENDERS)


def sender(connection: Connection, workspace_id: str) -> Any:
    """The workspace's sender (every column, the password included), or None."""
    return _SENDERS.one(connection, workspace_id)


def senders(connection: Connection, workspace_ids: Sequence[str]) -> dict[str, EmailSenderSettings]:
    """{workspace id: where its email goes out} of those that have a sender."""
    return {
        row.workspace_id: EmailSenderSettings(
            host=row.host,
            port=row.port,
            security=EmailSecurity(row.security),
            username=row.username,
            password=row.password,
            from_address=row.from_address,
        )
        for row in _SENDERS.many(connection, workspace_ids).values()
    }


def set_sender(
    connection: Connection,
    workspace_id: str,
    settings: EmailSenderSettings,
    now: datetime,
    configured_by: str,
) -> None:
    """Set the workspace's sender, replacing the one it had."""
    _SENDERS.replace(
        connection,
        workspace_id,
        {
            "host": settings.host,
            "port": settings.port,
            "security": settings.security.value,
            "username": settings.username,
            "password": settings.password,
            "from_address": settings.from_address,
            "configured_at": now,
            "configured_by": configured_by,
        },
    )


def clear_sender(connection: Connection, workspace_id: str) -> bool:
    """Remove the workspace's sender; False when it had none."""
    return _SENDERS.clear(connection, workspace_id)
