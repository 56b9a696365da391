"""Rows the migration tests put into a database at an older revision, written as SQL
(the models describe the newest schema, not the one under test)."""

from __future__ import annotations

from sqlalchemy import Connection, text

AT = "'2030-01-01 09:00:00+00'"


def workspace_and_journey(
    connection: Connection, *, status: str = "ACTIVE", latest_version: int = 1
) -> None:
    """Workspace `acme` and its event-triggered journey `j1`."""
    connection.execute(
        text(f"INSERT INTO workspaces (id, last_sequence, created_at) VALUES ('acme', 0, {AT})")
    )
    connection.execute(
        text(
            "INSERT INTO journeys (pk, id, workspace_id, name, kind, status, revision, "
            "latest_version, audience_fully_entered, created_at, updated_at) VALUES "
            f"(1, 'j1', 'acme', 'J', 'EVENT_TRIGGERED', :status, 1, :latest, false, {AT}, {AT})"
        ),
        {"status": status, "latest": latest_version},
    )
