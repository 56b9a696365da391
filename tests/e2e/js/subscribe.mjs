// Subscribe with the npm `graphql-ws` client, as a single-page app would, and
// print each `next` payload as one JSON line on stdout.
//
//   node subscribe.mjs --url ws://127.0.0.1:8000/graphql --token jrn_... \
//     --query 'subscription($after: Int) { statusChanged(after: $after) { sequence } }' \
//     --variables '{"after": 0}' --count 3
//
// Every option can also come from the environment: JOURNEYS_URL, JOURNEYS_TOKEN,
// JOURNEYS_QUERY, JOURNEYS_VARIABLES, JOURNEYS_COUNT, JOURNEYS_TIMEOUT_MS.
//
// Exit status: 0 after `count` events; 1 on an error (the socket closed, the
// server sent `error`, ...), printed on stdout as {"error": {...}}; 2 when the
// server completed the subscription first; 3 on the overall timeout. Progress
// notes (connecting, connected, closed) go to stderr.

import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: process.env.JOURNEYS_URL },
    token: { type: "string", default: process.env.JOURNEYS_TOKEN },
    query: { type: "string", default: process.env.JOURNEYS_QUERY },
    variables: { type: "string", default: process.env.JOURNEYS_VARIABLES ?? "{}" },
    count: { type: "string", default: process.env.JOURNEYS_COUNT ?? "1" },
    "timeout-ms": { type: "string", default: process.env.JOURNEYS_TIMEOUT_MS ?? "20000" },
  },
});
if (!args.url || !args.query) {
  process.stderr.write("usage: subscribe.mjs --url URL --token TOKEN --query Q [--variables JSON] [--count N]\n");
  process.exit(64);
}
const count = Number.parseInt(args.count, 10);
const note = (what) => process.stderr.write(`subscribe.mjs: ${what}\n`);

let finished = false;
function finish(status, line) {
  if (finished) return;
  finished = true;
  const exit = () => process.exit(status);
  if (line === undefined) exit();
  else process.stdout.write(`${JSON.stringify(line)}\n`, exit);
}

// A CloseEvent or Error is not plain JSON: keep what a test can check.
function describe(error) {
  if (error && typeof error === "object" && "code" in error && "reason" in error) {
    return { kind: "close", code: error.code, reason: String(error.reason), wasClean: error.wasClean };
  }
  if (Array.isArray(error)) return { kind: "graphql", errors: error };
  if (error instanceof Error) return { kind: "exception", message: error.message };
  return { kind: "other", value: String(error) };
}

const client = createClient({
  url: args.url,
  webSocketImpl: WebSocket,
  connectionParams: args.token === undefined ? {} : { authorization: `Bearer ${args.token}` },
  // Forbidden (4403) is retried by default (the token might be granted later);
  // a test wants the first failure.
  retryAttempts: 0,
  on: {
    connecting: () => note("connecting"),
    connected: () => note("connected"),
    closed: (event) => note(`closed ${event?.code} ${event?.reason ?? ""}`),
  },
});

let received = 0;
client.subscribe(
  { query: args.query, variables: JSON.parse(args.variables) },
  {
    next(payload) {
      if (finished) return;
      received += 1;
      if (received < count) {
        process.stdout.write(`${JSON.stringify(payload)}\n`);
        return;
      }
      client.dispose();
      finish(0, payload);
    },
    error(error) {
      finish(1, { error: describe(error) });
    },
    complete() {
      finish(2, { error: { kind: "complete", message: `completed after ${received} of ${count} events` } });
    },
  },
);

setTimeout(() => {
  finish(3, { error: { kind: "timeout", message: `${received} of ${count} events in time` } });
}, Number.parseInt(args["timeout-ms"], 10));
