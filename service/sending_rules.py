"""The workspace's sending rules (docs/rules.md, "Sending rules"): replaced as a whole
by admins, read by anyone of the workspace."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from domain.sending_rules import FrequencyCap, QuietHours, SendingRules
from service.clock import Clock
from service.tokens import Principal
from store import sending_rules as rules_store
from store import tokens as token_store
from store.database import Database
from store.sending_rules import ConfiguredRules


@dataclass(frozen=True)
class RulesInput:
    """What an admin asks for, as typed: None clears a part."""

    quiet_hours: tuple[str, str] | None = None  # (start, end), "HH:MM"
    frequency_cap: tuple[int, int] | None = None  # (messages, hours)
    timezone: str | None = None

    def checked(self) -> SendingRules:
        """The rules, each part checked (the first refusal is raised)."""
        quiet = QuietHours.parse(*self.quiet_hours) if self.quiet_hours else None
        cap = FrequencyCap(*self.frequency_cap) if self.frequency_cap else None
        return SendingRules(quiet, cap, self.timezone)


class SendingRulesService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def get(self, principal: Principal) -> ConfiguredRules | None:
        """The workspace's rules and who set them when; None when they never were."""
        return await self._database.read(
            lambda connection: rules_store.rules(connection, principal.workspace_id)
        )

    async def set(self, principal: Principal, asked: RulesInput) -> ConfiguredRules:
        """Replace all three rules (a part left None is cleared). They apply to each
        message the next time it is due: one already held by the quiet hours is looked
        at again when the hours it was held for end, and one handed over stays so."""
        principal.require_admin("setting the sending rules")
        rules = asked.checked()
        now = self._clock.now()

        def store(connection: Connection) -> None:
            token_store.ensure_workspace(connection, principal.workspace_id, now)
            rules_store.replace_rules(
                connection, principal.workspace_id, rules, now, principal.token_name
            )

        await self._database.transaction(store)
        return ConfiguredRules(rules, now, principal.token_name)
