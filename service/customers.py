"""Customer profiles: `upsertCustomers`, `customer(id)` and `deleteCustomer`.

An upsert is one transaction of three statements whatever its size (up to
MAX_UPSERT_BATCH changes): the batch's profiles are read and locked, merged in
Python (domain.customers), and written back in one multi-row upsert. Each change
that cannot apply is listed with its reason and changes nothing; the others apply.

An erasure takes everything personal of one customer out of the workspace in one
transaction: its profile, its events, its rows in audience lists, its enrollments
and its messages. The journeys' counters are kept: they say what happened, not to
whom (see `CustomerProfiles.erase`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from domain.actions import require_write
from domain.conditions import Condition
from domain.customers import (
    MAX_CUSTOMER_ID_LENGTH,
    MAX_UPSERT_BATCH,
    CustomerEvent,
    Value,
    checked_attributes,
    is_valid_customer_id,
    merge_problem,
    merged,
)
from domain.errors import ConcurrentChange, ValidationFailed
from domain.statuses import Status, exits_customers
from domain.walking import DeliveryState, EnrollmentState
from service.clock import Clock
from service.reads import checked_page_size
from service.tokens import Principal
from store import conditions
from store import customers as customer_store
from store.database import Database
from store.node_counters import NodeCounts

# What `customer(id)` lists of a customer's journeys, newest first.
MAX_CUSTOMER_JOURNEYS = 100
# A conflict on a profile created meanwhile by another transaction is merged again;
# each round reads the newcomers locked, so a second round settles it.
_UPSERT_ROUNDS = 3

INVALID_ID_MESSAGE = (
    f"a customer id has 1 to {MAX_CUSTOMER_ID_LENGTH} characters, no surrounding spaces "
    "and no control or invisible characters"
)


class ProfileRefusal(StrEnum):
    INVALID_ID = "INVALID_ID"
    INVALID_ATTRIBUTES = "INVALID_ATTRIBUTES"


@dataclass(frozen=True)
class ProfileChange:
    """A change to one profile: attributes to set (None removes one)."""

    customer_id: str
    attributes: object


@dataclass(frozen=True)
class RejectedProfile:
    customer_id: str
    reason: ProfileRefusal
    message: str


@dataclass(frozen=True)
class Upserted:
    created: int
    updated: int
    rejected: list[RejectedProfile]


@dataclass(frozen=True)
class Profile:
    customer_id: str
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CustomerJourney:
    journey_id: str
    state: str
    step_index: int
    entered_at: datetime


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    existed: bool
    journeys_exited: int
    messages_cancelled: int


class CustomerProfiles:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def upsert(self, principal: Principal, changes: Sequence[ProfileChange]) -> Upserted:
        """Merge each change into its profile (made when missing): given keys set, keys
        given as null removed, the others kept. Changes to one customer apply in order.
        `created` and `updated` count profiles, not changes."""
        require_write(principal.actor)
        if len(changes) > MAX_UPSERT_BATCH:
            raise ValidationFailed(
                f"at most {MAX_UPSERT_BATCH} customers per call, not {len(changes)}; "
                "send more in several calls"
            )
        rejected: dict[int, RejectedProfile] = {}
        # Each customer's valid changes, in order, with their place in the call.
        wanted: dict[str, list[tuple[int, dict[str, Value | None]]]] = {}
        for index, change in enumerate(changes):
            customer_id = change.customer_id
            if not is_valid_customer_id(customer_id):
                rejected[index] = RejectedProfile(
                    customer_id, ProfileRefusal.INVALID_ID, INVALID_ID_MESSAGE
                )
                continue
            try:
                attributes = checked_attributes(change.attributes)
            except ValidationFailed as refusal:
                rejected[index] = RejectedProfile(
                    customer_id, ProfileRefusal.INVALID_ATTRIBUTES, refusal.message
                )
                continue
            wanted.setdefault(customer_id, []).append((index, attributes))

        def write(connection: Connection) -> tuple[int, int, dict[int, RejectedProfile]]:
            now = self._clock.now()
            created = updated = 0
            too_many: dict[int, RejectedProfile] = {}
            pending = sorted(wanted)
            for _ in range(_UPSERT_ROUNDS):
                if not pending:
                    break
                existing = customer_store.profiles_for_update(
                    connection, principal.workspace_id, pending
                )
                profiles: dict[str, dict[str, Any]] = {}
                refused: dict[int, RejectedProfile] = {}
                for customer_id in pending:
                    result = _merge(customer_id, existing.get(customer_id), wanted[customer_id])
                    attributes, refused_here = result
                    refused.update(refused_here)
                    if attributes is not None:
                        profiles[customer_id] = attributes
                written = customer_store.write_profiles(
                    connection, principal.workspace_id, profiles, list(existing), now
                )
                created += sum(1 for c in written if c not in existing)
                updated += sum(1 for c in written if c in existing)
                # A profile made by another transaction since it was read is read again.
                pending = sorted(set(profiles) - written)
                too_many.update(
                    (index, refusal)
                    for index, refusal in refused.items()
                    if refusal.customer_id not in pending
                )
            if pending:
                shown = ", ".join(map(repr, pending[:5]))
                raise ConcurrentChange(
                    f"the profiles of {shown} were being created by other calls at the same "
                    "time, again and again; nothing was written: send the call again"
                )
            return created, updated, too_many

        created, updated, too_many = await self._database.transaction(write)
        rejected.update(too_many)
        return Upserted(created, updated, [rejected[index] for index in sorted(rejected)])

    async def count(self, principal: Principal, condition: Condition) -> int:
        """How many of the workspace's profiles meet the condition now: a segment
        audience's estimate. One count over the profiles, the condition as its SQL."""
        now = self._clock.now()
        return await self._database.read(
            lambda connection: conditions.count_matching(
                connection, principal.workspace_id, condition, now
            )
        )

    async def customer(self, principal: Principal, customer_id: str) -> Profile | None:
        """The customer's profile in the caller's workspace, or None (also for an id
        that cannot be one)."""
        if not is_valid_customer_id(customer_id):
            return None
        row = await self._database.read(
            lambda connection: customer_store.profile(
                connection, principal.workspace_id, customer_id
            )
        )
        if row is None:
            return None
        return Profile(row.id, dict(row.attributes), row.created_at, row.updated_at)

    async def journeys(self, principal: Principal, customer_id: str) -> list[CustomerJourney]:
        """The customer's enrollments in the workspace's journeys, newest first (at most
        MAX_CUSTOMER_JOURNEYS)."""
        rows = await self._database.read(
            lambda connection: customer_store.enrollments(
                connection, principal.workspace_id, customer_id, MAX_CUSTOMER_JOURNEYS
            )
        )
        return [
            CustomerJourney(row.journey_id, row.state, row.step_index, row.entered_at)
            for row in rows
        ]

    async def events(
        self, principal: Principal, customer_id: str, first: int | None
    ) -> list[CustomerEvent]:
        """The customer's latest `first` events (at most 100), latest first."""
        limit = checked_page_size(first)
        if not limit:
            return []
        rows = await self._database.read(
            lambda connection: customer_store.events(
                connection, principal.workspace_id, customer_id, limit
            )
        )
        return [CustomerEvent(row.name, dict(row.properties), row.at) for row in rows]

    async def erase(self, principal: Principal, customer_id: str) -> Erasure:
        """Admins only: erase a customer from the workspace, in one transaction.

        - The profile, the customer's events and its rows in the workspace's audience
          lists are deleted (a list's size, a count, stays what was uploaded).
        - Its messages not yet handed over (QUEUED) are cancelled: counters queued -1,
          cancelled +1 each. It is taken out of every journey it is inside: inside -1,
          exited +1 each. (In a journey already aborted, whose counters said so at the
          abort, the counters are left as they are.)
        - Its messages handed over and still awaiting an outcome cannot be recalled
          (a channel may have them), but they are not tried again: each counts as
          failed (handed_over -1, failed +1) and its row is deleted with the others,
          so no retry sends the customer's data again; an attempt under way when the
          erasure commits finds its row gone and records nothing.
        - Then every enrollment and delivery row of the customer is deleted (deliveries
          first): what remains of it is the journeys' counters.
        """
        principal.require_admin("erasing a customer")
        if not is_valid_customer_id(customer_id):
            raise ValidationFailed(INVALID_ID_MESSAGE)
        workspace_id = principal.workspace_id

        def erase(connection: Connection) -> Erasure:
            customer_store.lock_enrollments(connection, workspace_id, customer_id)
            deliveries = customer_store.delete_deliveries(connection, workspace_id, customer_id)
            enrollments = customer_store.delete_enrollments(connection, workspace_id, customer_id)
            statuses = customer_store.journey_statuses(
                connection, [row.journey_id for row in deliveries + enrollments]
            )
            counters, nodes, exited, cancelled = _erased_counters(deliveries, enrollments, statuses)
            nodes.save(connection, counters)
            in_lists = customer_store.delete_list_rows(connection, workspace_id, customer_id)
            events = customer_store.delete_events(connection, workspace_id, customer_id)
            had_profile = customer_store.delete_profile(connection, workspace_id, customer_id)
            existed = had_profile or bool(deliveries or enrollments or in_lists or events)
            return Erasure(customer_id, existed, exited, cancelled)

        return await self._database.transaction(erase)


def _merge(
    customer_id: str,
    attributes: Mapping[str, Any] | None,
    changes: Sequence[tuple[int, dict[str, Value | None]]],
) -> tuple[dict[str, Any] | None, dict[int, RejectedProfile]]:
    """A profile's attributes after its changes, in order (None: nothing to write), and
    the changes refused because they would leave it with too many attributes."""
    current = dict(attributes) if attributes is not None else {}
    refused = {}
    applied = False
    for index, change in changes:
        result = merged(current, change)
        problem = merge_problem(result)
        if problem:
            refused[index] = RejectedProfile(
                customer_id, ProfileRefusal.INVALID_ATTRIBUTES, problem
            )
            continue
        current, applied = result, True
    return (current if applied else None), refused


def _erased_counters(
    deliveries: Sequence[Any], enrollments: Sequence[Any], statuses: Mapping[str, str]
) -> tuple[dict[str, Counter[str]], NodeCounts, int, int]:
    """The journeys' counters and node counters after an erasure's deleted rows, and how
    many journeys it took the customer out of and how many messages it cancelled."""
    counters: dict[str, Counter[str]] = defaultdict(Counter)
    nodes = NodeCounts()
    exited = cancelled = 0

    def counted_out(journey_id: str) -> bool:
        # An aborted journey's counters said so at the abort, its rows settled later.
        status = statuses.get(journey_id)
        return status is not None and exits_customers(Status(status))

    for row in deliveries:
        if row.state == DeliveryState.QUEUED.value and not counted_out(row.journey_id):
            counters[row.journey_id].update(queued=-1, cancelled=1)
            cancelled += 1
        elif row.state == DeliveryState.HANDED_OVER.value:
            counters[row.journey_id].update(handed_over=-1, failed=1)
    for row in enrollments:
        if row.state == EnrollmentState.INSIDE.value and not counted_out(row.journey_id):
            counters[row.journey_id].update(inside=-1, exited=1)
            if row.node_key is not None:
                nodes.leave(row.journey_id, row.node_key, 1)
            exited += 1
    return counters, nodes, exited, cancelled
