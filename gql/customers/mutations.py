"""Writing profiles, and erasing a customer."""

from __future__ import annotations

import strawberry

from domain.customers import MAX_UPSERT_BATCH
from gql.context import Info
from gql.customers.types import CustomerInput, DeleteCustomerResult, UpsertCustomersResult
from service.customers import ProfileChange


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(
        description=f"Create or change up to {MAX_UPSERT_BATCH} profiles, in one transaction: "
        "each change merges into its profile (keys given are set, keys given as null removed, "
        "the others kept; the same id twice applies in order). Each change refused is listed "
        "with the reason and changes nothing; the others apply."
    )
    async def upsert_customers(
        self, info: Info, customers: list[CustomerInput]
    ) -> UpsertCustomersResult:
        principal = await info.context.principal()
        upserted = await info.context.services.customers.upsert(
            principal, [ProfileChange(c.id, c.attributes) for c in customers]
        )
        return UpsertCustomersResult.of(upserted)

    @strawberry.mutation(
        description="Admins only: erase a customer from your workspace, in one transaction: "
        "its profile, its events, its places in audience lists, its journeys (it is taken "
        "out of those it is inside) and its messages (those still queued are cancelled; "
        "those already handed over are not tried again). The journeys' counters are kept."
    )
    async def delete_customer(self, info: Info, id: str) -> DeleteCustomerResult:
        principal = await info.context.principal()
        erasure = await info.context.services.customers.erase(principal, id)
        return DeleteCustomerResult.of(erasure)
