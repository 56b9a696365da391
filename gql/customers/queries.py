"""Reading a customer: its profile, its journeys and its latest events."""

from __future__ import annotations

import strawberry

from gql.conditions import ConditionInput, condition_of
from gql.context import Info
from gql.customers.types import Customer


@strawberry.type
class CustomerQueries:
    @strawberry.field(
        description="The customer's profile in your workspace, or null when it has none."
    )
    async def customer(self, info: Info, id: str) -> Customer | None:
        principal = await info.context.principal()
        found = await info.context.services.customers.customer(principal, id)
        return Customer.of(found) if found else None

    @strawberry.field(
        description="How many profiles of your workspace meet the condition now: the "
        "audience a segment journey with this audienceCondition would load if it started "
        "now (an estimate: profiles change)."
    )
    async def customer_count(self, info: Info, condition: ConditionInput) -> int:
        principal = await info.context.principal()
        return await info.context.services.customers.count(principal, condition_of(condition))
