"""Reading journeys: one by id, a page of them, the count per status."""

from __future__ import annotations

import base64
import binascii

import strawberry

from domain.content import MAX_NAME_LENGTH, JourneyKind
from domain.errors import NotFound, ValidationFailed
from domain.statuses import Status
from domain.text import has_unreadable_characters
from gql.context import Info
from gql.ids import journey_id, stored_form
from gql.journeys.types import JourneyConnection, JourneyEdge, JourneyType, PageInfo, StatusCount
from service.reads import JourneyFilter, checked_page_size

_CURSOR_PREFIX = "journey:"


def encode_cursor(journey_id: str) -> str:
    """The cursor after a journey: its public id, which the client already has.

    Not the row's position: positions are shared by every workspace, and a
    cursor holding one told how many journeys the others had created.
    """
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{journey_id}".encode()).decode()


_MAX_CURSOR_LENGTH = 64


def decode_cursor(cursor: str) -> str:
    """The journey id a cursor names; whether it is a journey of the caller's
    workspace is for the read to find out (`JourneyReads.page`)."""
    if len(cursor) <= _MAX_CURSOR_LENGTH:
        try:
            text = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (ValueError, binascii.Error, UnicodeError):
            text = ""
        named = text.removeprefix(_CURSOR_PREFIX)
        # A journey id exactly as this API writes them (gql/ids.py).
        if text.startswith(_CURSOR_PREFIX) and stored_form(named) == named:
            return named
    shown = cursor if len(cursor) <= _MAX_CURSOR_LENGTH else cursor[:_MAX_CURSOR_LENGTH] + "..."
    raise ValidationFailed(f"{shown!r} is not a cursor this API gave out")


@strawberry.input
class JourneyFilterInput:
    status: list[Status] | None = None
    kind: JourneyKind | None = None
    name_contains: str | None = None
    label: str | None = None

    def to_filter(self) -> JourneyFilter:
        if self.name_contains is not None and len(self.name_contains) > MAX_NAME_LENGTH:
            # No name is longer, so none could contain it; and the database's
            # pattern matching has limits of its own.
            raise ValidationFailed(
                f"nameContains is {len(self.name_contains)} characters long; a name has "
                f"at most {MAX_NAME_LENGTH}, so nameContains may have at most that many"
            )
        if self.name_contains is not None and has_unreadable_characters(self.name_contains):
            # No name holds one (domain/text.py); SQLite would match NUL with every name.
            raise ValidationFailed(
                "nameContains holds a control or invisible character; no name has one"
            )
        return JourneyFilter(
            statuses=tuple(self.status or ()),
            kind=self.kind,
            name_contains=self.name_contains,
            label=self.label,
        )


@strawberry.type
class JourneyQueries:
    @strawberry.field(description="The journey, or null when it is absent or not yours.")
    async def journey(self, info: Info, id: strawberry.ID) -> JourneyType | None:
        principal = await info.context.principal()
        try:
            wanted = journey_id(id)
        except NotFound:
            return None
        found = await info.context.services.reads.journey(principal.workspace_id, wanted)
        return JourneyType.of(found) if found else None

    @strawberry.field(description="Your journeys, newest first, a page at a time (first <= 100).")
    async def journeys(
        self,
        info: Info,
        filter: JourneyFilterInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> JourneyConnection:
        principal = await info.context.principal()
        size = checked_page_size(first)
        after_id = decode_cursor(after) if after is not None else None
        where = filter.to_filter() if filter else JourneyFilter()
        page = await info.context.services.reads.page(principal.workspace_id, where, size, after_id)
        edges = [
            JourneyEdge(cursor=encode_cursor(journey.id), node=JourneyType.of(journey))
            for journey in page.journeys
        ]
        return JourneyConnection(
            edges=edges,
            total_count=page.total_count,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after_id is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(description="How many of your journeys are in each status.")
    async def status_counts(self, info: Info) -> list[StatusCount]:
        principal = await info.context.principal()
        counts = await info.context.services.reads.status_counts(principal.workspace_id)
        return [StatusCount(status=status, count=count) for status, count in counts.items()]
