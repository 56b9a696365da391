"""The workspace's email sender through the schema, on SQLite and PostgreSQL: only an
admin sets or clears it, bad values are refused with VALIDATION_FAILED and a sentence,
anyone of the workspace reads it, and the password is in no answer (but stored, for the
email channel to log in with)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gql.context import Context
from gql.schema import schema
from service.services import Services
from service.tokens import Principal
from store import email_senders as sender_store
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

PASSWORD = "hunter2-but-longer"
FIELDS = "host port security username fromAddress configuredAt configuredBy"
SET = f"""
mutation($input: EmailSenderInput!) {{ setEmailSender(input: $input) {{ {FIELDS} }} }}
"""
CLEAR = "mutation { clearEmailSender }"
READ = f"{{ emailSender {{ {FIELDS} }} }}"
VALID = {
    "host": "smtp.example.com",
    "port": 587,
    "security": "STARTTLS",
    "username": "journeys",
    "password": PASSWORD,
    "fromAddress": "news@shop.example",
}


async def run(
    services: Services, principal: Principal, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    result = await schema.execute(
        query, variables, context_value=Context.of_principal(services, principal)
    )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [
            {"message": error.message, "extensions": error.extensions} for error in result.errors
        ]
    assert PASSWORD not in json.dumps(body, default=str)
    return body


async def refusal(
    services: Services, principal: Principal, query: str, variables: dict[str, Any] | None = None
) -> tuple[str, str]:
    body = await run(services, principal, query, variables)
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"]


async def test_an_admin_sets_reads_and_clears_the_sender(services: Services, callers: Callers):
    body = await run(services, callers.admin, SET, {"input": VALID})
    expected = {
        "host": "smtp.example.com",
        "port": 587,
        "security": "STARTTLS",
        "username": "journeys",
        "fromAddress": "news@shop.example",
        "configuredAt": T0.isoformat().replace("+00:00", "Z"),
        "configuredBy": "ada",
    }
    assert body["data"]["setEmailSender"] == expected, body
    for caller in (callers.viewer, callers.editor, callers.admin):
        assert await run(services, caller, READ) == {"data": {"emailSender": expected}}
    assert await run(services, callers.outsider, READ) == {"data": {"emailSender": None}}
    # Stored with its password, which the channel logs in with.
    stored = await services.database.read(
        lambda connection: sender_store.senders(connection, ["acme"])
    )
    assert stored["acme"].password == PASSWORD
    assert PASSWORD not in repr(stored)
    assert (await services.email_senders.get(callers.viewer)).has_password  # type: ignore[union-attr]

    plain = {**VALID, "security": "NONE", "username": None, "password": None, "port": 25}
    body = await run(services, callers.admin, SET, {"input": plain})
    assert body["data"]["setEmailSender"]["security"] == "NONE"
    assert body["data"]["setEmailSender"]["username"] is None

    assert await run(services, callers.admin, CLEAR) == {"data": {"clearEmailSender": True}}
    assert await run(services, callers.admin, CLEAR) == {"data": {"clearEmailSender": False}}
    assert await run(services, callers.admin, READ) == {"data": {"emailSender": None}}


async def test_only_an_admin_changes_the_sender(services: Services, callers: Callers):
    await run(services, callers.admin, SET, {"input": VALID})
    for caller in (callers.viewer, callers.editor):
        code, message = await refusal(services, caller, SET, {"input": VALID})
        assert code == "FORBIDDEN"
        assert "setting the email sender needs an admin token" in message
        code, message = await refusal(services, caller, CLEAR)
        assert code == "FORBIDDEN"
        assert "clearing the email sender needs an admin token" in message
    body = await run(services, callers.viewer, READ)
    assert body["data"]["emailSender"]["host"] == "smtp.example.com"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"host": "smtp example.com"}, "the SMTP host must not contain spaces"),
        ({"host": "smtp.example.com\r\nX: y"}, "must not contain spaces or control characters"),
        ({"port": 70000}, "the SMTP port must be from 1 to 65535, not 70000"),
        ({"password": None}, "give the SMTP username and password together, or neither"),
        ({"security": "NONE"}, "would send the password in clear"),
        ({"fromAddress": "Shop <news@shop.example>"}, "the From address must be one plain"),
        ({"fromAddress": "news@shop.example\nBcc: eve@x.example"}, "one plain email address"),
    ],
)
async def test_bad_values_are_refused_and_change_nothing(
    services: Services, callers: Callers, changes: dict[str, Any], says: str
):
    code, message = await refusal(services, callers.admin, SET, {"input": {**VALID, **changes}})
    assert code == "VALIDATION_FAILED"
    assert says in message
    assert await run(services, callers.admin, READ) == {"data": {"emailSender": None}}


def test_the_schema_has_no_way_to_read_the_password():
    sdl = schema.as_str()
    sender_type = sdl[sdl.index("type EmailSender {") :]
    sender_type = sender_type[: sender_type.index("}")]
    assert "password" not in sender_type and "hasPassword" not in sender_type
