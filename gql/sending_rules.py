"""The workspace's sending rules: quiet hours, a frequency cap and a time zone
(docs/rules.md, "Sending rules")."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.sending_rules import FrequencyCap, QuietHours, shown_time
from gql.context import Info
from service.sending_rules import RulesInput
from store.sending_rules import ConfiguredRules


@strawberry.type(
    name="QuietHours",
    description='Local wall-clock times, 24-hour "HH:MM": a message due from `start` '
    "until `end` stays queued and goes out at `end`. start after end is a night.",
)
class QuietHoursType:
    start: str
    end: str


@strawberry.type(
    name="FrequencyCap",
    description="At most `messages` handed over to one customer in any window of `hours`, "
    "across all journeys and channels; a message over it is skipped (FREQUENCY_CAPPED).",
)
class FrequencyCapType:
    messages: int
    hours: int


@strawberry.type(
    name="SendingRules",
    description="The workspace's sending rules; a part is null when it is not set.",
)
class SendingRulesType:
    quiet_hours: QuietHoursType | None
    frequency_cap: FrequencyCapType | None
    timezone: str | None = strawberry.field(
        description='The IANA zone (as "Europe/Paris") quiet hours are read in for a '
        "customer whose `timezone` attribute is not one; null: UTC."
    )
    configured_at: datetime | None = strawberry.field(
        description="When they were last set; null when they never were."
    )
    configured_by: str | None = strawberry.field(
        description="The name of the token that last set them; null when none did."
    )

    @classmethod
    def of(cls, configured: ConfiguredRules | None) -> SendingRulesType:
        if configured is None:
            return cls(
                quiet_hours=None,
                frequency_cap=None,
                timezone=None,
                configured_at=None,
                configured_by=None,
            )
        rules = configured.rules
        return cls(
            quiet_hours=_quiet(rules.quiet_hours) if rules.quiet_hours else None,
            frequency_cap=_cap(rules.frequency_cap) if rules.frequency_cap else None,
            timezone=rules.timezone,
            configured_at=configured.configured_at,
            configured_by=configured.configured_by,
        )


def _quiet(quiet: QuietHours) -> QuietHoursType:
    return QuietHoursType(start=shown_time(quiet.start), end=shown_time(quiet.end))


def _cap(cap: FrequencyCap) -> FrequencyCapType:
    return FrequencyCapType(messages=cap.messages, hours=cap.hours)


@strawberry.input(description='Quiet hours: two local times of day, "HH:MM", that differ.')
class QuietHoursInput:
    start: str
    end: str


@strawberry.input(description="messages from 1 to 1000, hours from 1 to 744 (31 days).")
class FrequencyCapInput:
    messages: int
    hours: int


@strawberry.input(description="All three rules at once: a part null or left out is cleared.")
class SendingRulesInput:
    quiet_hours: QuietHoursInput | None = None
    frequency_cap: FrequencyCapInput | None = None
    timezone: str | None = None

    def asked(self) -> RulesInput:
        quiet, cap = self.quiet_hours, self.frequency_cap
        return RulesInput(
            quiet_hours=(quiet.start, quiet.end) if quiet else None,
            frequency_cap=(cap.messages, cap.hours) if cap else None,
            timezone=self.timezone,
        )


@strawberry.type
class SendingRulesQueries:
    @strawberry.field(description="Your workspace's sending rules.")
    async def sending_rules(self, info: Info) -> SendingRulesType:
        principal = await info.context.principal()
        return SendingRulesType.of(await info.context.services.sending_rules.get(principal))


@strawberry.type
class SendingRulesMutations:
    @strawberry.mutation(
        description="Admins only: replace the workspace's quiet hours, frequency cap and "
        "time zone; a part null or left out is cleared. A message already queued follows "
        "the new rules from the next time it is looked at."
    )
    async def set_sending_rules(self, info: Info, rules: SendingRulesInput) -> SendingRulesType:
        principal = await info.context.principal()
        configured = await info.context.services.sending_rules.set(principal, rules.asked())
        return SendingRulesType.of(configured)
