// The two ways the dashboard talks to /graphql: POST for queries and
// mutations, and one graphql-transport-ws connection (the graphql-ws client)
// for every subscription.
import { createClient } from "./vendor/graphql-ws.js";

export class ApiError extends Error {
  constructor(message, code, extensions = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

// A query or mutation; resolves to `data`, or throws the API's first error
// (its sentence and extensions.code) as an ApiError.
export async function request(token, query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        Authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The server could not be reached. Check the connection and try again.", "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a GraphQL response.`, "BAD_RESPONSE");
  }
  if (body.errors && body.errors.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code, first.extensions || {});
  }
  return body.data;
}

// How long the socket may stay down before "reconnecting" becomes "offline"
// (it keeps retrying either way).
const OFFLINE_AFTER_MS = 15000;

// One WebSocket for the page. `onState` gets "connecting", "live",
// "reconnecting" or "offline"; `onReconnected` runs after every reconnect
// (after the client re-sent each subscription); `onRefused` when the server
// closes with 4403 (the token is no longer valid).
export function openLive(token, { onState, onReconnected, onRefused }) {
  let state = "connecting";
  let connectedOnce = false;
  let downSince = null;
  let socketOpen = false;
  const set = (next) => {
    if (next !== state) {
      state = next;
      onState(next);
    }
  };
  const down = () => {
    if (downSince === null) downSince = performance.now();
    const long = performance.now() - downSince > OFFLINE_AFTER_MS;
    set(!navigator.onLine || long ? "offline" : "reconnecting");
  };
  const watch = setInterval(() => {
    if (state !== "live" && connectedOnce) down();
  }, 1000);
  // The indicator follows the socket; the browser's online flag only tells
  // "offline" from "reconnecting" while it is down.
  const onOffline = () => connectedOnce && !socketOpen && down();
  window.addEventListener("offline", onOffline);

  const client = createClient({
    url: `${window.location.origin.replace(/^http/, "ws")}/graphql`,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: Infinity,
    // 4403: the token was refused or revoked; retrying will not help.
    shouldRetry: (event) => !(event && event.code === 4403),
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(400 * 2 ** retries, 3000) * (0.75 + Math.random() / 2))),
    onNonLazyError: () => {},
    on: {
      connecting: () => (connectedOnce ? down() : set("connecting")),
      connected: () => {
        socketOpen = true;
        downSince = null;
        set("live");
        if (connectedOnce) onReconnected();
        connectedOnce = true;
      },
      closed: (event) => {
        socketOpen = false;
        if (event && event.code === 4403) {
          onRefused(event.reason || "the server no longer accepts this token");
          return;
        }
        if (connectedOnce) down();
      },
    },
  });

  return {
    // Subscribe; `variables` is kept in the payload the client re-sends on
    // every reconnect, so a handler may move it on (statusChanged's `after`).
    subscribe(query, variables, { next, error }) {
      const payload = { query, variables: { ...variables } };
      const dispose = client.subscribe(payload, {
        next: (result) => {
          if (result.errors && result.errors.length) error?.(result.errors[0]);
          else if (result.data) next(result.data, payload);
        },
        error: (problem) => error?.(Array.isArray(problem) ? problem[0] : problem),
        complete: () => {},
      });
      return { payload, dispose };
    },
    close() {
      clearInterval(watch);
      window.removeEventListener("offline", onOffline);
      client.dispose();
    },
  };
}
