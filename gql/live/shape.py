"""What the fan-out reads off a subscription document before running it.

Whether it is a subscription at all (anything else takes Strawberry's own
path), and which variable, if any, is the root field's `after`: the one
variable left out of the key under which subscribers share an execution, and
the one that says whether a subscriber first gets its own replay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    Visitor,
    visit,
)

from gql.document_cache import SHAPES_BYTES, SizedCache, cached_parse, kept, text_weight
from gql.limits import MAX_DOCUMENT_TOKENS, document_problem


@dataclass(frozen=True)
class Shape:
    """What the fan-out needs to know of a subscription document."""

    # The variable given as the root field's `after`, if used nowhere else.
    after_variable: str | None
    # The root field takes `after` at all (a literal, or a variable).
    takes_after: bool

    def replays(self, variables: Mapping[str, Any]) -> bool:
        if self.after_variable is not None:
            return variables.get(self.after_variable) is not None
        return self.takes_after

    def key_variables(self, variables: Mapping[str, Any]) -> str:
        shared = {name: value for name, value in variables.items() if name != self.after_variable}
        return json.dumps(shared, sort_keys=True, separators=(",", ":"))


# Keyed on the text, which an entry keeps alive: bounded in bytes, and only
# short documents kept (gql/document_cache.py), like the parser's cache.
# A shape is wrapped, so that None (not a subscription) is kept too.
_SHAPES: SizedCache[tuple[str, str | None], tuple[Shape | None]] = SizedCache(SHAPES_BYTES)


def subscription_shape(query: str, operation_name: str | None) -> Shape | None:
    """The shape of a subscription document; None for anything else (a query,
    a mutation, a document that does not parse or is refused before parsing:
    Strawberry's own path answers those, gql/schema.py's `refused_early` first)."""
    if not kept(query):
        return _shape_of(query, operation_name)
    key = (query, operation_name)
    found = _SHAPES.get(key)
    if found is None:
        found = (_shape_of(query, operation_name),)
        _SHAPES.put(key, found, text_weight(query) + text_weight(operation_name or ""))
    return found[0]


def _shape_of(query: str, operation_name: str | None) -> Shape | None:
    if document_problem(query) is not None:
        return None
    try:
        # The options `refused_early` parses with: the same cached document.
        document = cached_parse(query, max_tokens=MAX_DOCUMENT_TOKENS)
    except (GraphQLError, RecursionError):
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return None
    operation = operations[0]
    root_fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    after = next(
        (
            argument.value
            for root in root_fields
            for argument in root.arguments or ()
            if argument.name.value == "after"
        ),
        None,
    )
    if after is None:
        return Shape(after_variable=None, takes_after=False)
    if isinstance(after, VariableNode) and _uses_of(operation)[after.name.value] == 1:
        return Shape(after_variable=after.name.value, takes_after=True)
    return Shape(after_variable=None, takes_after=True)


def _uses_of(operation: OperationDefinitionNode) -> dict[str, int]:
    uses: dict[str, int] = {}

    class CountUses(Visitor):
        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            uses[node.name.value] = uses.get(node.name.value, 0) + 1

    # Only the selections: the variable's own definition is not a use.
    visit(operation.selection_set, CountUses())
    return uses
