"""Segment journeys' audiences: uploading a list, and loading it when the journey runs.

- `AudienceUploads.upload`: `POST /journeys/{id}/audience`. The journey is
  checked before a byte of the body is read; the list is written batch by
  batch as it streams in (never held whole in memory), its repeats removed,
  and only then does it become the journey's audience, in one transaction
  with the edit the journey's status must allow. An upload cut off midway,
  or refused at the end, leaves the journey as it was, and its rows are
  removed.
- `AudienceLoading.run_all`: the worker's part. A load begins in the
  transaction that first makes a segment journey ACTIVE (store.unit_of_work);
  each batch offers the next customers of the list entry and moves the load's
  cursor, in one transaction. It goes on while the journey admits (ACTIVE,
  PAUSED: PAUSED customers wait at their first step) and stops where it is
  in any other status (FROZEN, ERROR, ...), to resume from the cursor. Once
  the whole list has been offered to an ACTIVE journey, the system applies
  AUDIENCE_LOADED (CLOSED) in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from domain.actions import Action, Actor, require_write
from domain.audience import ListRefusal
from domain.condition_json import condition_from_json
from domain.entry import admission_refusal
from domain.errors import NotFound, ValidationFailed
from domain.journey import Journey
from domain.statuses import Status
from service.bus import EventBus
from service.clock import Clock
from service.commands import JourneyCommands
from service.list_upload import SHOWN_REFUSALS, Batch, ListReader, RefusedLine, media_type
from service.reads import JourneyReads
from service.streaming import write_while_reading
from service.tokens import Principal
from store import audience_lists, condition_loads
from store import counters as counter_store
from store import loads as load_store
from store.database import Database
from store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Customers offered entry per load batch, shared among the loads under way.
LOAD_BATCH = 5_000
LOADS_PER_BATCH = 10
# An upload not completed in this long is taken for abandoned (its process stopped).
ABANDONED_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Uploaded:
    """What an upload did: the list the journey now has, and the lines refused."""

    journey: Journey
    list_id: str
    lines: int
    accepted: int
    refused: int
    first_refused: list[RefusedLine]


class AudienceUploads:
    def __init__(
        self, database: Database, clock: Clock, commands: JourneyCommands, reads: JourneyReads
    ) -> None:
        self._database = database
        self._clock = clock
        self._commands = commands
        self._reads = reads

    async def upload(
        self,
        principal: Principal,
        journey_id: str,
        content_type: str | None,
        body: AsyncIterable[bytes],
    ) -> Uploaded:
        require_write(principal.actor)
        reader = ListReader(media_type(content_type))
        await self._check_journey(principal, journey_id)
        list_pk, list_id = await self._database.transaction(
            lambda c: audience_lists.new_list(c, principal.workspace_id, self._clock.now())
        )
        try:
            await self._write_while_reading(list_pk, reader.batches(body))
            repeated, first_repeated = await self._database.transaction(
                lambda c: audience_lists.remove_repeated(c, list_pk, SHOWN_REFUSALS)
            )
            journey = await self._attach(principal, journey_id, list_pk, list_id, reader)
        except BaseException:
            # Cut off, or refused: nothing refers to the list; its rows go.
            await asyncio.shield(self._discard(list_pk))
            raise
        refused = reader.first_refused + [
            RefusedLine(position, customer_id, ListRefusal.DUPLICATE)
            for position, customer_id in first_repeated
        ]
        assert journey.latest.content.audience is not None
        return Uploaded(
            journey=journey,
            list_id=list_id,
            lines=reader.lines,
            accepted=journey.latest.content.audience.size,
            refused=reader.refused + repeated,
            first_refused=sorted(refused, key=lambda r: r.line)[:SHOWN_REFUSALS],
        )

    async def _write_while_reading(self, list_pk: int, batches: AsyncIterator[Batch]) -> None:
        """Each batch is written while the next one is read (service.streaming); when
        reading fails, the rows written go with the rest of the list."""
        await write_while_reading(
            batches,
            lambda b: self._database.transaction(
                lambda c: audience_lists.add_members(c, list_pk, b.positions, b.customer_ids)
            ),
        )

    async def _check_journey(self, principal: Principal, journey_id: str) -> None:
        """Refuse before the body is read: no such journey, not a segment journey, or a
        status whose list may not change."""

        journey = await self._reads.journey(principal.workspace_id, journey_id)
        if journey is None:
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")
        journey.check_takes_an_upload(principal.actor, self._clock.now())

    async def _attach(
        self,
        principal: Principal,
        journey_id: str,
        list_pk: int,
        list_id: str,
        reader: ListReader,
    ) -> Journey:
        if not await self._database.read(lambda c: audience_lists.has_members(c, list_pk)):
            raise ValidationFailed(
                f"the upload holds no valid customer id ({reader.lines} lines, "
                f"{reader.refused} refused); the journey's audience is unchanged"
            )
        return await self._commands.attach_list(principal, journey_id, list_pk, list_id)

    async def _discard(self, list_pk: int) -> None:
        try:
            await self._database.transaction(lambda c: audience_lists.delete_list(c, list_pk))
        except Exception:
            # Left to `AudienceLoading.discard_abandoned`.
            log.exception("could not remove the rows of an upload that did not complete")


class AudienceLoading:
    def __init__(
        self, database: Database, clock: Clock, bus: EventBus, commands: JourneyCommands
    ) -> None:
        self._database = database
        self._clock = clock
        self._bus = bus
        self._commands = commands

    async def run_all(self, stopping: asyncio.Event | None = None) -> int:
        """Load batches while there are any, or until `stopping` is set (the batch under
        way finishes; the load's cursor says where the next one begins); returns how
        many customers entered."""
        entered = 0
        while stopping is None or not stopping.is_set():
            moved = await self.load_batch()
            if moved is None:
                break
            entered += moved
        return entered

    async def load_batch(self) -> int | None:
        """One batch over the loads under way: how many customers entered, or None
        when no load moved or finished."""
        entered, worked = await self._commands.run(self._load_batch)
        if entered:
            # Their first steps are due now: the step processors look at once.
            await self._bus.announce_work()
        return entered if worked else None

    async def discard_abandoned(self) -> int:
        """Remove the rows of uploads whose process stopped midway."""
        before = self._clock.now() - ABANDONED_AFTER
        return await self._database.transaction(
            lambda c: audience_lists.delete_abandoned_lists(c, before)
        )

    def _load_batch(self, uow: UnitOfWork) -> tuple[int, bool]:
        """(customers entered, whether any load moved or finished)."""
        connection = uow.connection
        now = self._clock.now()
        loads = load_store.loads_to_run(connection, now, LOADS_PER_BATCH)
        if not loads:
            return 0, False
        journeys = load_store.loading_journeys(connection, [load.journey_id for load in loads])
        share = max(1, LOAD_BATCH // len(loads))
        entered: dict[str, int] = {}
        worked = False
        for load in loads:
            journey = journeys.get(load.journey_id)
            if journey is None or admission_refusal(
                Status(journey.status), journey.start_at, journey.end_at, now
            ):
                continue  # the status changed since the load was picked, or the window shut
            if load.list_pk is not None:
                loaded = load_store.load_batch(connection, load, journey.workspace_id, share, now)
            elif journey.audience_condition is None:
                continue  # a version with neither cannot go live (domain.content)
            else:
                condition = condition_from_json(journey.audience_condition)
                loaded = condition_loads.load_condition_batch(
                    connection, load, journey.workspace_id, condition, share, now
                )
            if loaded is not None:
                entered[load.journey_id] = loaded.entered
                worked = True
            if (loaded is None or loaded.last) and journey.status == Status.ACTIVE:
                # The whole audience has been offered: the journey closes to newcomers.
                closing = uow.journeys.get(journey.workspace_id, journey.id)
                closing.take(Action.AUDIENCE_LOADED, Actor.system(), now)
                load_store.finish_load(connection, journey.id, now)
                worked = True
            # A PAUSED journey whose list is all in finishes once it is ACTIVE again.
        counter_store.add_to_counters(
            connection, {j: {"entered": n, "inside": n} for j, n in entered.items()}
        )
        uow.commit()
        return sum(entered.values()), worked
