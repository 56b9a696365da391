"""Over real HTTP (SQLite and PostgreSQL): an admin sets the workspace's sending
rules, anyone of the workspace reads them back, a part sent as null (or left out)
is cleared, and every refusal says why with its code and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

SET = """
mutation($rules: SendingRulesInput!) {
  setSendingRules(rules: $rules) {
    quietHours { start end } frequencyCap { messages hours } timezone
    configuredAt configuredBy
  }
}
"""
RULES = """
{ sendingRules {
    quietHours { start end } frequencyCap { messages hours } timezone
    configuredAt configuredBy
} }
"""
ALL = {
    "quietHours": {"start": "21:00", "end": "8:00"},
    "frequencyCap": {"messages": 3, "hours": 24},
    "timezone": "Europe/Paris",
}
NONE_SET = {
    "quietHours": None,
    "frequencyCap": None,
    "timezone": None,
    "configuredAt": None,
    "configuredBy": None,
}


def rules(server: LiveServer, as_: str = "viewer") -> Any:
    return server.data(RULES, as_=as_)["sendingRules"]


def test_an_admin_sets_the_rules_and_anyone_of_the_workspace_reads_them(
    server: LiveServer,
) -> None:
    assert rules(server) == NONE_SET
    expected = {
        "quietHours": {"start": "21:00", "end": "08:00"},
        "frequencyCap": {"messages": 3, "hours": 24},
        "timezone": "Europe/Paris",
        "configuredAt": "2030-01-01T09:00:00Z",
        "configuredBy": "admin",
    }
    assert server.data(SET, {"rules": ALL}, as_="admin") == {"setSendingRules": expected}
    assert rules(server) == expected
    assert rules(server, as_="editor") == expected
    # Another workspace's admin sees none of them.
    assert rules(server, as_="outsider") == NONE_SET


def test_a_part_sent_as_null_or_left_out_is_cleared(server: LiveServer) -> None:
    server.data(SET, {"rules": ALL}, as_="admin")
    server.clock.advance(seconds=60)
    without_cap = {**ALL, "frequencyCap": None}
    answer = server.data(SET, {"rules": without_cap}, as_="admin")["setSendingRules"]
    assert answer["frequencyCap"] is None and answer["configuredAt"] == "2030-01-01T09:01:00Z"
    read = rules(server)
    assert read["frequencyCap"] is None
    assert read["quietHours"] == {"start": "21:00", "end": "08:00"}
    assert read["timezone"] == "Europe/Paris"
    # Left out: cleared too. Everything cleared still says who cleared it, and when.
    server.data(SET, {"rules": {"timezone": "Asia/Kolkata"}}, as_="admin")
    assert rules(server)["quietHours"] is None and rules(server)["timezone"] == "Asia/Kolkata"
    server.data(SET, {"rules": {}}, as_="admin")
    assert rules(server) == {
        **NONE_SET,
        "configuredAt": "2030-01-01T09:01:00Z",
        "configuredBy": "admin",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"quietHours": {"start": "25:00", "end": "08:00"}},
            'quietHours.start must be a time of day from 00:00 to 23:59, as "21:00", not "25:00"',
        ),
        (
            {"quietHours": {"start": "21:00", "end": "8:00pm"}},
            'quietHours.end must be a time of day from 00:00 to 23:59, as "21:00", not "8:00pm"',
        ),
        (
            {"quietHours": {"start": "21:00", "end": "21:00"}},
            "quietHours.start and quietHours.end must differ",
        ),
        (
            {"frequencyCap": {"messages": 0, "hours": 24}},
            "frequencyCap.messages must be from 1 to 1000, not 0",
        ),
        (
            {"frequencyCap": {"messages": -2, "hours": 24}},
            "frequencyCap.messages must be from 1 to 1000, not -2",
        ),
        (
            {"frequencyCap": {"messages": 3, "hours": 745}},
            "frequencyCap.hours must be from 1 to 744 (31 days), not 745",
        ),
        (
            {"frequencyCap": {"messages": 3, "hours": 0}},
            "frequencyCap.hours must be from 1 to 744 (31 days), not 0",
        ),
        (
            {"timezone": "Mars/Base"},
            'timezone must be an IANA time zone name, as "Europe/Paris" or "UTC", not "Mars/Base"',
        ),
    ],
)
def test_a_refusal_says_why_and_writes_nothing(
    server: LiveServer, change: dict[str, Any], message: str
) -> None:
    server.data(SET, {"rules": ALL}, as_="admin")
    before = rules(server)
    server.clock.advance(seconds=60)
    error = server.error(SET, {"rules": {**ALL, **change}}, as_="admin")
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert error["message"].startswith(message)
    assert rules(server) == before


def test_only_an_admin_sets_them(server: LiveServer) -> None:
    for as_ in ("viewer", "editor"):
        error = server.error(SET, {"rules": ALL}, as_=as_)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["message"] == (
            f"setting the sending rules needs an admin token; yours is a {as_} token"
        )
    # A forbidden call is refused before its input is looked at.
    bad = {"timezone": "Mars/Base"}
    assert server.error(SET, {"rules": bad}, as_="editor")["extensions"]["code"] == "FORBIDDEN"
    assert rules(server) == NONE_SET
