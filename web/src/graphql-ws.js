// The graphql-ws client (the graphql-transport-ws protocol), as one ES module
// (static/vendor/graphql-ws.js), built by build.mjs.
export { createClient, CloseCode } from "graphql-ws/client";
