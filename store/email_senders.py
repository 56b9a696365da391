"""Email senders: at most one SMTP server per workspace, read in bulk by the email
channel (service/email_channel.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as upsert

from domain.email import EmailSecurity, EmailSenderSettings
from store.compiled import Statement
from store.lists import one_of
from store.tables import EMAIL_SENDERS

_COLUMNS = (
    EMAIL_SENDERS.c.workspace_id,
    EMAIL_SENDERS.c.host,
    EMAIL_SENDERS.c.port,
    EMAIL_SENDERS.c.security,
    EMAIL_SENDERS.c.username,
    EMAIL_SENDERS.c.password,
    EMAIL_SENDERS.c.from_address,
    EMAIL_SENDERS.c.configured_at,
    EMAIL_SENDERS.c.configured_by,
)

_SENDER = Statement(
    select(*_COLUMNS).where(EMAIL_SENDERS.c.workspace_id == bindparam("workspace_id"))
)

_SENDERS = Statement(select(*_COLUMNS).where(one_of(EMAIL_SENDERS.c.workspace_id, "ids")))

_insert = upsert(EMAIL_SENDERS)
_SET = Statement(
    _insert.on_conflict_do_update(
        index_elements=[EMAIL_SENDERS.c.workspace_id],
        set_={
            name: getattr(_insert.excluded, name)
            for name in (
                "host",
                "port",
                "security",
                "username",
                "password",
                "from_address",
                "configured_at",
                "configured_by",
            )
        },
    )
)

_CLEAR = Statement(
    delete(EMAIL_SENDERS).where(EMAIL_SENDERS.c.workspace_id == bindparam("workspace_id"))
)


def sender(connection: Connection, workspace_id: str) -> Any:
    """The workspace's sender (every column, the password included), or None."""
    return _SENDER.first(connection, {"workspace_id": workspace_id})


def senders(connection: Connection, workspace_ids: Sequence[str]) -> dict[str, EmailSenderSettings]:
    """{workspace id: where its email goes out} of those that have a sender."""
    if not workspace_ids:
        return {}
    rows = _SENDERS.rows(connection, {"ids": list(workspace_ids)})
    return {
        row.workspace_id: EmailSenderSettings(
            host=row.host,
            port=row.port,
            security=EmailSecurity(row.security),
            username=row.username,
            password=row.password,
            from_address=row.from_address,
        )
        for row in rows
    }


def set_sender(
    connection: Connection,
    workspace_id: str,
    settings: EmailSenderSettings,
    now: datetime,
    configured_by: str,
) -> None:
    """Set the workspace's sender, replacing the one it had."""
    _SET.execute(
        connection,
        {
            "workspace_id": workspace_id,
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
    return _CLEAR.execute(connection, {"workspace_id": workspace_id}) > 0
