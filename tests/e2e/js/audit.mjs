// Run the `graphql-http` package's GraphQL-over-HTTP conformance audits
// (serverAudits) against a running server and print one JSON line per audit:
// {"id", "name", "status": "ok" | "notice" | "warn" | "error", "reason"?, "body"?}.
//
//   node audit.mjs --url http://127.0.0.1:8000/graphql --token jrn_...
//
// The token goes in the Authorization header of every request the audits
// send: the server checks it before it reads any document. Exit status 0
// once every audit has run, whatever their results (the test reads them).

import { parseArgs } from "node:util";
import { serverAudits } from "graphql-http";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    token: { type: "string" },
  },
});
if (!args.url) {
  process.stderr.write("usage: audit.mjs --url URL [--token TOKEN]\n");
  process.exit(64);
}

function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers ?? {});
  if (args.token) headers.set("authorization", `Bearer ${args.token}`);
  return fetch(input, { ...init, headers });
}

for (const audit of serverAudits({ url: args.url, fetchFn: fetchWithToken })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    line.reason = result.reason;
    line.httpStatus = result.response.status;
    try {
      line.body = await result.response.text();
    } catch {
      line.body = null; // the audit read it already
    }
  }
  process.stdout.write(JSON.stringify(line) + "\n");
}
