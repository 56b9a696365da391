"""Sending rules: one row per workspace that has ever set them, read in bulk by the
step processor. A null part is not set; the row stays when every part is cleared,
so the API can still say who cleared them and when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from domain.sending_rules import (
    FrequencyCap,
    QuietHours,
    SendingRules,
    is_zone_name,
    shown_time,
    time_of_day,
)
from store.tables import SENDING_RULES
from store.workspace_rows import WorkspaceRows

_RULES = WorkspaceRows(SENDING_RULES)


@dataclass(frozen=True)
class ConfiguredRules:
    rules: SendingRules
    configured_at: datetime
    configured_by: str


def _rules(row: Any) -> SendingRules:
    # Checked when they were saved. A zone the zone database has since dropped
    # reads as not set: UTC stands in, as it would in customer_zone, rather than
    # the workspace's rules becoming unreadable.
    quiet = None
    if row.quiet_start is not None and row.quiet_end is not None:
        quiet = QuietHours(
            time_of_day(row.quiet_start, "quiet_start"), time_of_day(row.quiet_end, "quiet_end")
        )
    cap = None
    if row.cap_messages is not None and row.cap_hours is not None:
        cap = FrequencyCap(row.cap_messages, row.cap_hours)
    zone = row.timezone if is_zone_name(row.timezone) else None
    return SendingRules(quiet, cap, zone)


def rules(connection: Connection, workspace_id: str) -> ConfiguredRules | None:
    """The workspace's rules, and who set them when; None when they never were."""
    row = _RULES.one(connection, workspace_id)
    if row is None:
        return None
    return ConfiguredRules(_rules(row), row.configured_at, row.configured_by)


def rules_of(connection: Connection, workspace_ids: Sequence[str]) -> dict[str, SendingRules]:
    """{workspace id: its rules} of those that have a row; a workspace left out has none."""
    rows = _RULES.many(connection, workspace_ids)
    return {workspace_id: _rules(row) for workspace_id, row in rows.items()}


def replace_rules(
    connection: Connection,
    workspace_id: str,
    rules: SendingRules,
    now: datetime,
    configured_by: str,
) -> None:
    """Replace all of the workspace's rules: a part that is None is cleared."""
    quiet, cap = rules.quiet_hours, rules.frequency_cap
    _RULES.replace(
        connection,
        workspace_id,
        {
            "quiet_start": shown_time(quiet.start) if quiet else None,
            "quiet_end": shown_time(quiet.end) if quiet else None,
            "cap_messages": cap.messages if cap else None,
            "cap_hours": cap.hours if cap else None,
            "timezone": rules.timezone,
            "configured_at": now,
            "configured_by": configured_by,
        },
    )
