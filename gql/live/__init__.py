"""The live runtime: subscriptions over WebSocket, executed once per distinct document.

- `subscription`: how a subscription is written (`Live`, `live_subscription`);
  see its docstring, or README's "Writing a subscription".
- `execution`: one execution of a subscription as the runtime runs it (its
  phase, whether it listens yet, the sequence of each value).
- `multiplex`: the shared executions, and the hand-over from a replay to them.
- `shape`: what the fan-out reads off a subscription document (its `after`).
- `runtime`: `LiveRuntime`, one app's shared executions, open sockets and heap:
  the app builds, starts and closes it.
- `transport`: the two WebSocket protocols, on top of Strawberry's handlers.
- `connections`: the open sockets, whose tokens are checked again and again.
- `outbox`: each socket's bounded queue of outbound frames and its writer.
- `heap`: keeps the garbage collector off the state of open connections.
"""
