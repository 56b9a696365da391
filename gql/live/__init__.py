"""The live runtime: subscriptions over WebSocket, executed once per distinct document.

- `transport`: the two WebSocket protocols, on top of Strawberry's handlers.
- `outbox`: each socket's bounded queue of outbound frames and its writer.
- `shape`: what the fan-out reads off a subscription document (its `after`).
- `multiplex`: the shared executions, and the hand-over from a replay to them.
- `heap`: keeps the garbage collector off the state of open connections.
"""
