"""`viewer`: who the token is."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.enums import ViewerRole


@strawberry.type
class Viewer:
    workspace: str
    role: ViewerRole
    token_name: str


@strawberry.type
class ViewerQueries:
    @strawberry.field
    async def viewer(self, info: Info) -> Viewer:
        principal = await info.context.principal()
        return Viewer(
            workspace=principal.workspace_id,
            role=ViewerRole.of(principal.role),
            token_name=principal.token_name,
        )
