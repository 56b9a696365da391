"""Flows of nodes the flow tests draw and lay out, as NodeInput lists."""

from __future__ import annotations

from typing import Any

IN_VN: dict[str, Any] = {"attribute": {"name": "country", "op": "EQUALS", "value": "VN"}}
# A SPLIT at the entry, a CONDITION on one branch; the walk ends three ways.
AB_FLOW: list[dict[str, Any]] = [
    {"key": "ab", "type": "SPLIT", "branches": [
        {"key": "a", "percent": 50, "next": "check"},
        {"key": "b", "percent": 50, "next": "later"},
    ]},
    {"key": "check", "type": "CONDITION", "condition": IN_VN, "yes": "vip", "no": None},
    {"key": "vip", "type": "SEND", "channel": "log", "template": "vip-offer", "next": "hold"},
    {"key": "hold", "type": "WAIT", "seconds": 86400},
    {"key": "later", "type": "WAIT", "seconds": 2 * 86400, "next": "bye"},
    {"key": "bye", "type": "EXIT"},
]  # fmt: skip
# The README's picture: an offer, then a purchase awaited five days.
BIRTHDAY_FLOW: list[dict[str, Any]] = [
    {"key": "offer", "type": "SEND", "channel": "log", "template": "birthday-offer",
     "next": "wait-purchase"},
    {"key": "wait-purchase", "type": "WAIT_FOR_EVENT", "event": "purchase",
     "timeoutSeconds": 5 * 86400, "next": "thank-you", "onTimeout": "reminder"},
    {"key": "thank-you", "type": "SEND", "channel": "log", "template": "thank-you"},
    {"key": "reminder", "type": "SEND", "channel": "log", "template": "birthday-reminder"},
]  # fmt: skip
