"""A journey's counters: its customers and messages, kept exact as they move.

Declared here, once. The table keeps one column per counter (`store.journey_tables`,
`journey_stats`), the store adds to them by name (`store.counters.add_to_counters`) and
reads them back as `JourneyCounters`, and the GraphQL type shows each (`gql.stats.types`,
which names some of them otherwise and splits `inside` by the journey's status).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class JourneyCounters:
    """A journey's customers and messages, as its counters keep them."""

    entered: int = 0
    """Customers who ever entered."""
    inside: int = 0
    """Customers inside now: moving on, or held where they are while the journey holds."""
    completed: int = 0
    """Customers whose walk reached its end."""
    exited: int = 0
    """Customers taken out otherwise: by an abort, a REACTIVATE that removed their node,
    an erasure."""
    queued: int = 0
    """Messages not yet handed to their channel: still recallable."""
    handed_over: int = 0
    """Messages given to their channel, outcome pending: no longer recallable."""
    delivered: int = 0
    """Messages their channel delivered."""
    failed: int = 0
    """Messages that failed for good (their channel's retries spent)."""
    cancelled: int = 0
    """Messages still queued when the journey was aborted: never sent."""
    skipped: int = 0
    """Messages a sending rule kept back: no valid address, or over the frequency cap."""
    converted: int = 0
    """Customers its goal event took out (CONVERTED), whatever node they were at."""
    node_arrivals: int = 0
    """Times a customer reached a node, all nodes together: it grows whenever the node
    counters move, so a watcher of the counters sees the flow's counts move too."""


COUNTERS: tuple[str, ...] = tuple(counter.name for counter in fields(JourneyCounters))
"""The counters' names, in the order declared: the columns of `journey_stats`."""
