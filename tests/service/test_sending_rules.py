"""The sending rules as the step processor reads them (SQLite and PostgreSQL): one
workspace's, or many at once, each part as it was set, a cleared part None."""

from __future__ import annotations

from datetime import time

import pytest

from domain.errors import Forbidden, ValidationFailed
from domain.sending_rules import FrequencyCap, QuietHours, SendingRules
from service.sending_rules import RulesInput
from service.services import Services
from store.sending_rules import rules_of
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio


async def test_the_processor_reads_the_rules_of_many_workspaces_at_once(
    services: Services, callers: Callers
) -> None:
    await services.sending_rules.set(
        callers.admin, RulesInput(("21:00", "08:00"), (3, 24), "America/New_York")
    )
    await services.sending_rules.set(callers.outsider, RulesInput(frequency_cap=(1, 744)))
    found = await services.database.read(
        lambda connection: rules_of(connection, ["acme", "other", "nobody", "acme"])
    )
    assert found == {
        "acme": SendingRules(
            QuietHours(time(21), time(8)), FrequencyCap(3, 24), "America/New_York"
        ),
        "other": SendingRules(frequency_cap=FrequencyCap(1, 744)),
    }
    assert await services.database.read(lambda connection: rules_of(connection, [])) == {}


async def test_replacing_clears_what_is_left_out_and_keeps_who_did_it(
    services: Services, callers: Callers
) -> None:
    assert await services.sending_rules.get(callers.viewer) is None
    await services.sending_rules.set(callers.admin, RulesInput(("12:00", "14:00"), (5, 1), "UTC"))
    await services.sending_rules.set(callers.admin, RulesInput(timezone="Europe/London"))
    configured = await services.sending_rules.get(callers.viewer)
    assert configured is not None
    assert configured.rules == SendingRules(timezone="Europe/London")
    assert (configured.configured_at, configured.configured_by) == (T0, "ada")


async def test_a_refused_change_writes_nothing(services: Services, callers: Callers) -> None:
    await services.sending_rules.set(callers.admin, RulesInput(("21:00", "08:00")))
    with pytest.raises(ValidationFailed):
        await services.sending_rules.set(callers.admin, RulesInput(("21:00", "08:00"), (0, 24)))
    with pytest.raises(Forbidden):
        await services.sending_rules.set(callers.editor, RulesInput(timezone="UTC"))
    configured = await services.sending_rules.get(callers.viewer)
    assert configured is not None
    assert configured.rules == SendingRules(QuietHours(time(21), time(8)))
