// GraphiQL against this server's /graphql (HTTP and graphql-transport-ws).
// A token the dashboard (/) keeps in this tab's session storage fills the
// Authorization header, so a signed-in operator can try queries at once.
// The explorer pane builds a query from the schema by ticking fields, for
// whoever has not written GraphQL yet.
(function () {
  const url = window.location.origin + "/graphql";
  const subscriptionUrl = url.replace(/^http/, "ws");
  const token = window.sessionStorage.getItem("journeys.token");
  const headers = token ? JSON.stringify({ Authorization: "Bearer " + token }, null, 2) : undefined;
  const fetcher = GraphiQL.createFetcher({
    url,
    subscriptionUrl,
    // graphql-ws takes the token in connection_init, not in a header.
    wsConnectionParams: token ? { authorization: "Bearer " + token } : undefined,
  });
  const example = [
    "# Journeys: the API in short is in the README; the schema is in the docs pane,",
    "# and the explorer (in the bar on the left) builds a query as you tick fields.",
    "# Add {\"Authorization\": \"Bearer jrn_...\"} in the headers tab below.",
    "{",
    "  viewer { workspace role tokenName }",
    "  statusCounts { status count }",
    "}",
    "",
  ].join("\n");
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: example,
      defaultHeaders: headers,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: !token,
      inputValueDeprecation: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    }),
  );
})();
