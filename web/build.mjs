// Rebuild web/static/vendor/ from node_modules (installed by `npm ci` from
// package-lock.json): `make vendor` runs both. The output is committed, so
// serving needs neither Node nor the network.
//
//   preact-htm.js   Preact + hooks + htm, one ES module (src/preact.js)
//   graphql-ws.js   the graphql-ws client, one ES module (src/graphql-ws.js)
//   react*.js, graphiql.min.*   GraphiQL's UMD files, copied as published
//   graphiql-explorer.*         its explorer plugin (the query builder pane), as published
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "static", "vendor");
mkdirSync(out, { recursive: true });

const version = (name) =>
  JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;

for (const [entry, file, packages] of [
  ["src/preact.js", "preact-htm.js", ["preact", "htm"]],
  ["src/graphql-ws.js", "graphql-ws.js", ["graphql-ws"]],
]) {
  await build({
    entryPoints: [join(here, entry)],
    outfile: join(out, file),
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2020",
    legalComments: "inline",
    banner: { js: `/* ${packages.map((name) => `${name} ${version(name)}`).join(", ")} (MIT); built by web/build.mjs */` },
  });
}

// As published, less the source-map comment (the maps are not vendored).
for (const [from, to] of [
  ["react/umd/react.production.min.js", "react.production.min.js"],
  ["react-dom/umd/react-dom.production.min.js", "react-dom.production.min.js"],
  ["graphiql/graphiql.min.js", "graphiql.min.js"],
  ["graphiql/graphiql.min.css", "graphiql.min.css"],
  ["@graphiql/plugin-explorer/dist/index.umd.js", "graphiql-explorer.umd.js"],
  ["@graphiql/plugin-explorer/dist/style.css", "graphiql-explorer.css"],
]) {
  const text = readFileSync(join(here, "node_modules", from), "utf8");
  writeFileSync(join(out, to), text.replace(/\n?\/[/*][#@] sourceMappingURL=\S+?(?: \*\/)?\s*$/, "\n"));
}

const manifest = Object.fromEntries(
  ["preact", "htm", "graphql-ws", "react", "react-dom", "graphiql", "@graphiql/plugin-explorer"].map(
    (name) => [name, version(name)],
  ),
);
writeFileSync(join(out, "VERSIONS.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log("web/static/vendor rebuilt:", manifest);
