"""`POST /journeys/{id}/audience`: a segment journey's list, uploaded as a stream.

Authenticated like GraphQL (`Authorization: Bearer <token>`, an editor or
admin token). The body is `text/plain` (one customer id a line) or
`text/csv` (a header naming an `id` column), of any size up to
JOURNEYS_MAX_UPLOAD_BYTES (not JOURNEYS_MAX_BODY_BYTES: gql/limits.py exempts
this route); it is read as it arrives (service/segments.py). The
answer is JSON: the counts, and the first refused lines with their line
numbers and reasons. A refusal of the whole upload is
`{"errors": [{"message", "extensions": {"code"}}]}`, as GraphQL answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from domain.errors import DomainError
from gql.ids import journey_id
from service.segments import Uploaded
from service.services import Services
from service.tokens import Principal

_STATUS_OF_CODE = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "TRANSITION_NOT_ALLOWED": 409,
    "PAYLOAD_TOO_LARGE": 413,
}


class UploadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"

    def __init__(
        self,
        limit: int,
        advice: str = "split the list, or leave out columns other than 'id'; the journey's "
        "audience is unchanged",
    ) -> None:
        super().__init__(
            f"the upload is larger than {limit} bytes (JOURNEYS_MAX_UPLOAD_BYTES); {advice}"
        )
        self.limit = limit

    def details(self) -> dict[str, object]:
        return {"limit": self.limit}


# What an upload endpoint does with the checked, capped body once the caller is known.
UploadWork = Callable[[Principal, Request, AsyncIterator[bytes]], Awaitable[Response]]


def streamed_upload(
    services: Services, work: UploadWork, *advice: str
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint taking a streamed body: the caller authenticated, a declared length
    over JOURNEYS_MAX_UPLOAD_BYTES refused before a byte is read, the body capped at
    it as it arrives (UploadTooLarge with `advice`), and a refusal answered as GraphQL
    answers one."""
    limit = services.settings.max_upload_bytes

    async def endpoint(request: Request) -> Response:
        try:
            principal = await services.tokens.authenticate(request.headers.get("authorization"))
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise UploadTooLarge(limit, *advice)  # before a byte of the body is read
            return await work(principal, request, capped(request.stream(), limit, *advice))
        except ClientDisconnect:
            # Nobody is left to answer; what the upload wrote is already gone.
            return Response(status_code=400)
        except DomainError as refusal:
            return refused(refusal)

    return endpoint


def audience_upload(services: Services) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, bound to the process's services."""

    async def upload(
        principal: Principal, request: Request, body: AsyncIterator[bytes]
    ) -> Response:
        uploaded = await services.uploads.upload(
            principal,
            journey_id(request.path_params["journey_id"]),
            request.headers.get("content-type"),
            body,
        )
        return JSONResponse(_answer(uploaded))

    return streamed_upload(services, upload)


def refused(refusal: DomainError) -> JSONResponse:
    """A refusal of a whole upload, as GraphQL answers one."""
    return JSONResponse(
        {
            "errors": [
                {
                    "message": refusal.message,
                    "extensions": {"code": refusal.code, **refusal.details()},
                }
            ]
        },
        status_code=_STATUS_OF_CODE.get(refusal.code, 400),
        # The rest of a body too large is never read: no other request can
        # follow it on this connection.
        headers={"connection": "close"} if isinstance(refusal, UploadTooLarge) else None,
    )


async def capped(body: AsyncIterator[bytes], limit: int, *advice: str) -> AsyncIterator[bytes]:
    """The body, refused with UploadTooLarge(limit, *advice) once past `limit` bytes."""
    received = 0
    async for chunk in body:
        received += len(chunk)
        if received > limit:
            raise UploadTooLarge(limit, *advice)
        yield chunk


def _answer(uploaded: Uploaded) -> dict[str, object]:
    return {
        "journeyId": uploaded.journey.id,
        "revision": uploaded.journey.revision,
        "version": uploaded.journey.latest.number,
        "listId": uploaded.list_id,
        "lines": uploaded.lines,
        "accepted": uploaded.accepted,
        "refused": uploaded.refused,
        "refusedLines": [
            {"line": r.line, "customerId": r.customer_id, "reason": r.reason.value}
            for r in uploaded.first_refused
        ],
    }
