"""`POST /customers`: a bulk import of customer profiles, all or nothing.

The import is read as it streams in (service.import_reader), and each batch of
good lines is staged while the next one is read (store.customer_import). When
the whole body is in: if any line was refused, nothing is written and the
answer lists the refused lines; otherwise one transaction merges every staged
line into the workspace's profiles (a profile the merge would make too large
refuses the import too, by the line of its id's last occurrence). The staged
rows go in every case, and those of an import whose process stopped are swept
when the next import begins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import timedelta

from domain.actions import require_write
from domain.customers import MAX_ATTRIBUTES
from service.clock import Clock
from service.import_reader import (
    ImportRefusal,
    ProfileBatch,
    ProfileReader,
    RefusedProfile,
    import_format,
)
from service.list_upload import SHOWN_REFUSALS
from service.streaming import write_while_reading
from service.tokens import Principal
from store import customer_import as store
from store.database import Database

log = logging.getLogger(__name__)

# An import not completed in this long is taken for abandoned (its process stopped).
ABANDONED_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Imported:
    """What an import did: `written` when every line merged (`created` and `updated`
    profiles); otherwise nothing changed, and `refused` lines say why."""

    lines: int
    created: int
    updated: int
    refused: int
    first_refused: list[RefusedProfile]

    @property
    def written(self) -> bool:
        return not self.refused


class CustomerImports:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def run(
        self, principal: Principal, content_type: str | None, body: AsyncIterable[bytes]
    ) -> Imported:
        require_write(principal.actor)
        reader = ProfileReader(import_format(content_type))
        import_id = store.new_import_id(self._clock.now())
        try:
            await write_while_reading(reader.batches(body), lambda b: self._stage(import_id, b))
            if reader.refused:
                return Imported(reader.lines, 0, 0, reader.refused, reader.first_refused)
            try:
                created, updated = await self._database.transaction(
                    lambda c: store.merge(
                        c,
                        principal.workspace_id,
                        import_id,
                        self._clock.now(),
                        staged=reader.accepted,
                        removals=reader.removals,
                        shown=SHOWN_REFUSALS,
                    )
                )
            except store.TooManyAttributes as too_many:
                return Imported(reader.lines, 0, 0, too_many.total, _refusals(too_many))
            return Imported(reader.lines, created, updated, 0, [])
        finally:
            # Merged, refused or cut off: the staged rows go.
            await asyncio.shield(self._discard(import_id))

    async def discard_abandoned(self) -> int:
        """Remove the staged rows of imports whose process stopped midway."""
        before = self._clock.now() - ABANDONED_AFTER
        return await self._database.transaction(lambda c: store.discard_abandoned(c, before))

    async def _stage(self, import_id: int, batch: ProfileBatch) -> None:
        await self._database.transaction(
            lambda c: store.stage(c, import_id, batch.lines, batch.customer_ids, batch.changes)
        )

    async def _discard(self, import_id: int) -> None:
        try:
            await self._database.transaction(lambda c: store.discard(c, import_id))
        except Exception:
            # Left to `discard_abandoned`.
            log.exception("could not remove the staged rows of a customer import")


def _refusals(too_many: store.TooManyAttributes) -> list[RefusedProfile]:
    return [
        RefusedProfile(
            line,
            customer_id,
            ImportRefusal.INVALID_ATTRIBUTES,
            f"a profile holds at most {MAX_ATTRIBUTES} attributes; merged with the profile "
            f"(and the id's earlier lines), this line makes {attributes}",
        )
        for line, customer_id, attributes in too_many.first
    ]
