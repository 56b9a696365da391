"""The live status dashboard at / and GraphiQL's page, both from local files.

Everything the browser loads is under web/static/ (the vendored libraries in
web/static/vendor/): no CDN, so both pages work without internet access.
"""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from web import STATIC_DIR

# Only this origin: scripts, styles, the API and its WebSocket. Nothing from
# elsewhere could load even if a file asked for it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # The page itself is small: always ask, so a new deploy's files are seen.
    "cache-control": "no-cache",
}


@cache
def graphiql_html() -> str:
    """GraphiQL's page, loading React and GraphiQL from /static/vendor/ instead
    of Strawberry's CDN addresses."""
    return (STATIC_DIR / "graphiql.html").read_text(encoding="utf-8")


class _Static(StaticFiles):
    """/static/: revalidated on every load (ETag), with the same headers as the page."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


async def _index(_request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)


def dashboard_routes() -> list[BaseRoute]:
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount("/static", app=_Static(directory=STATIC_DIR), name="static"),
    ]
