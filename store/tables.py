"""Every table, by area: workspaces and journeys (`store.journey_tables`), customers
(`store.customer_tables`) and messages (`store.message_tables`).

The store's statements take their Core tables from here, and importing this module
registers them all on the metadata, which the migrations are checked against.
"""

from store.customer_tables import (
    AUDIENCE_LISTS,
    AUDIENCE_LOADS,
    AUDIENCE_MEMBERS,
    CUSTOMER_EVENTS,
    CUSTOMER_IMPORTS,
    CUSTOMERS,
    ENROLLMENTS,
)
from store.journey_tables import (
    EVENTS,
    JOURNEYS,
    LABELS,
    NODE_COUNTERS,
    STATS,
    TOKENS,
    VERSIONS,
    WORKSPACES,
)
from store.message_tables import DELIVERIES, EMAIL_SENDERS, SENDING_RULES, WEBHOOK_ENDPOINTS

__all__ = [
    "AUDIENCE_LISTS",
    "AUDIENCE_LOADS",
    "AUDIENCE_MEMBERS",
    "CUSTOMERS",
    "CUSTOMER_EVENTS",
    "CUSTOMER_IMPORTS",
    "DELIVERIES",
    "EMAIL_SENDERS",
    "ENROLLMENTS",
    "EVENTS",
    "JOURNEYS",
    "LABELS",
    "NODE_COUNTERS",
    "SENDING_RULES",
    "STATS",
    "TOKENS",
    "VERSIONS",
    "WEBHOOK_ENDPOINTS",
    "WORKSPACES",
]
