"""`POST /customers`: a bulk import of customer profiles, streamed, all or nothing.

Authenticated like GraphQL (`Authorization: Bearer <token>`, an editor or admin
token). The body is `application/x-ndjson` (one `{"id", "attributes"}` object a
line) or `text/csv` (a header with an `id` column; the other columns are
attributes), of any size up to JOURNEYS_MAX_UPLOAD_BYTES (gql/limits.py exempts
this route from JOURNEYS_MAX_BODY_BYTES), read as it arrives
(service/customer_import.py). The answer is JSON:
`{"lines", "created", "updated", "refused", "firstRefused": [{"line",
"customerId", "reason", "message"}]}`, 200 when every line was merged; 422,
with `errors` too, when any line was refused and nothing was imported. A
refusal of the whole import (a token, the format, the size, a CSV header) is
`{"errors": [...]}` as the audience upload answers it (gql/uploads.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gql.uploads import streamed_upload
from service.customer_import import Imported
from service.services import Services
from service.tokens import Principal

_TOO_LARGE_ADVICE = "split the import; no profile was changed"


def customer_import(services: Services) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, bound to the process's services."""

    async def import_profiles(
        principal: Principal, request: Request, body: AsyncIterator[bytes]
    ) -> Response:
        imported = await services.customer_import.run(
            principal, request.headers.get("content-type"), body
        )
        return JSONResponse(_answer(imported), status_code=200 if imported.written else 422)

    return streamed_upload(services, import_profiles, _TOO_LARGE_ADVICE)


def _answer(imported: Imported) -> dict[str, object]:
    answer: dict[str, object] = {
        "lines": imported.lines,
        "created": imported.created,
        "updated": imported.updated,
        "refused": imported.refused,
        "firstRefused": [
            {
                "line": r.line,
                "customerId": r.customer_id,
                "reason": r.reason.value,
                "message": r.message,
            }
            for r in imported.first_refused
        ],
    }
    if not imported.written:
        answer["errors"] = [
            {
                "message": f"{imported.refused} of {imported.lines} lines were refused "
                "(firstRefused lists the first, by line number); nothing was imported",
                "extensions": {"code": "VALIDATION_FAILED"},
            }
        ]
    return answer
