// A journey's flow drawn as a graph (SVG), with the customers at each node
// now and those that took each way out, and the same in words for screen
// readers. Where things go is flow_layout.js's business; this draws them.
import { html, useEffect, useMemo, useRef, useState } from "./vendor/preact-htm.js";
import { fittingLayout, layoutFlow } from "./flow_layout.js";
import { fmtDuration, plural } from "./format.js";

const HELD = ["PAUSED", "FROZEN", "ERROR"];
const FONT = `system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`; // app.css's
const KEY_FONT = `700 13px ${FONT}`; // .flow-key
const DETAIL_FONT = `11px ${FONT}`; // .flow-detail

// `text`, cut short with an ellipsis where it is wider than `width` in `font`
// (measured on a canvas, as the browser will draw it).
let measure = null;
function fit(text, width, font) {
  measure ??= document.createElement("canvas").getContext("2d");
  measure.font = font;
  if (measure.measureText(text).width <= width) return text;
  let n = text.length;
  while (n > 1 && measure.measureText(`${text.slice(0, n - 1)}…`).width > width) n -= 1;
  return `${text.slice(0, n - 1)}…`;
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const short = (n) => (n >= 10000 ? compact.format(n) : n.toLocaleString());
const seconds = (s) => (s == null ? "?" : fmtDuration(s * 1000));

// The short line a node's box shows under its key.
function detail(node) {
  switch (node.type) {
    case "WAIT":
      return seconds(node.seconds);
    case "SEND":
      // The subject as written (its Liquid source): what tells one message from another.
      return node.subject || `${node.template ?? "?"} (${node.channel ?? "?"})`;
    case "WAIT_FOR_EVENT":
      return `${node.event ?? "?"}, up to ${seconds(node.timeoutSeconds)}`;
    case "CONDITION":
      return node.conditionText ?? "";
    case "SPLIT":
      return (node.branches || []).map((b) => (b.percent == null ? "others" : `${b.percent}%`)).join(" / ");
    default:
      return "the walk ends";
  }
}

// What a node does, in words: "SEND template birthday-offer (log), subject
// “Happy birthday, {{ customer.first_name }}”".
function what(node) {
  switch (node.type) {
    case "WAIT":
      return `WAIT ${seconds(node.seconds)}`;
    case "SEND": {
      const subject = node.subject ? `, subject “${node.subject}”` : "";
      return `SEND template ${node.template ?? "?"} (${node.channel ?? "?"})${subject}`;
    }
    case "WAIT_FOR_EVENT":
      return `WAIT_FOR_EVENT ${node.event ?? "?"}, up to ${seconds(node.timeoutSeconds)}`;
    case "CONDITION":
      return `CONDITION ${node.conditionText ?? ""}`.trim();
    case "SPLIT":
      return `SPLIT ${(node.branches || []).map((b) => `${b.key} ${b.percent == null ? "others" : `${b.percent}%`}`).join(", ")}`;
    default:
      return "EXIT";
  }
}

// How many customers took each edge (undefined where the API did not say):
// a branch counts its own; the one way out of a WAIT or SEND is the next
// node's `reached` when nothing else leads there, else what that node
// reached less the branches that lead there too; where they are not all
// known, or the walk ends, those that left the node (reached less at).
export function edgeCustomers(nodes, edges) {
  const byKey = new Map(nodes.map((node) => [node.key, node]));
  const branchCount = (edge) => byKey.get(edge.from).branches?.find((b) => b.key === edge.branch)?.customers;
  const into = new Map();
  for (const edge of edges) if (edge.to !== null) into.set(edge.to, [...(into.get(edge.to) || []), edge]);
  const counts = new Map();
  for (const edge of edges) {
    const from = byKey.get(edge.from);
    let n;
    if (edge.branch !== null) n = branchCount(edge);
    else if (from.reached == null) n = undefined;
    else {
      const others = edge.to === null ? null : into.get(edge.to).filter((e) => e !== edge);
      const known = others && others.every((e) => e.branch !== null && branchCount(e) != null);
      n = known
        ? Math.max(0, byKey.get(edge.to).reached - others.reduce((sum, e) => sum + branchCount(e), 0))
        : Math.max(0, from.reached - (from.at ?? 0));
    }
    counts.set(edge.id, n);
  }
  return counts;
}

const customers = (n) => `${n.toLocaleString()} ${n === 1 ? "customer" : "customers"}`;

// One line a node: "Node 'offer', SEND template birthday-offer (log): 120
// customers here; goes to 'wait-purchase'".
function sentence(node, edges, counts) {
  const here = node.at == null ? "" : `: ${customers(node.at)} here${node.reached == null ? "" : `, ${node.reached.toLocaleString()} reached it`}`;
  const ways = edges.map((edge) => {
    const n = counts.get(edge.id);
    const took = n == null ? "" : ` (${customers(n)})`;
    const where = edge.to === null ? "the walk ends" : `goes to '${edge.to}'`;
    return edge.branch === null ? `${where}${took}` : `branch ${edge.label}: ${where}${took}`;
  });
  const after = node.type === "EXIT" ? "the walk ends here" : ways.join("; ");
  return `Node '${node.key}', ${what(node)}${here}; ${after}.`;
}

function Node({ node, box, held }) {
  const { x, y, w } = box;
  const at = node.at;
  const pill = at == null ? null : short(at);
  const pillWidth = pill === null ? 0 : 10 + 6.6 * pill.length;
  const words = `${node.key}: ${what(node)}${at == null ? "" : `; ${customers(at)} here now`}`;
  return html`<g class="flow-node" data-node=${node.key} data-type=${node.type}>
    <title>${words}</title>
    <rect class="flow-box" x=${x} y=${y} width=${w} height=${box.h} rx="6" />
    <text class="flow-type" x=${x + 8} y=${y + 16}>${node.type.replaceAll("_", " ")}</text>
    ${pill !== null && html`<g class=${`flow-at${at > 0 ? " some" : ""}${held ? " held" : ""}`}>
      <rect x=${x + w - 6 - pillWidth} y=${y + 5} width=${pillWidth} height="16" rx="8" />
      <text data-at=${node.key} x=${x + w - 6 - pillWidth / 2} y=${y + 16.5} text-anchor="middle">${pill}</text>
    </g>`}
    <text class="flow-key" x=${x + 8} y=${y + 36}>${fit(node.key, w - 16, KEY_FONT)}</text>
    <text class="flow-detail" x=${x + 8} y=${y + 54}>${fit(detail(node), w - 16, DETAIL_FONT)}</text>
  </g>`;
}

// An edge's line, under the boxes, and its label, over them: a long label
// may reach a box's border, never hide behind it.
function Edge({ edge, marker }) {
  return html`<path class="flow-line" data-line=${edge.id} d=${edge.d} marker-end=${`url(#${marker})`} />`;
}

function EdgeLabel({ edge, count }) {
  const text = [edge.label, count == null ? "" : short(count)].filter(Boolean).join(" · ");
  return html`<g class="flow-edge" data-edge=${edge.id} data-from=${edge.from} data-to=${edge.to ?? ""}
      data-branch=${edge.branch ?? ""}>
    ${text && html`<text class="flow-label" x=${edge.labelAt.x} y=${edge.labelAt.y}
      text-anchor="middle" dominant-baseline="central">${text}</text>`}
  </g>`;
}

// Follows an element's width (a ResizeObserver), null until measured.
function useWidth(ref) {
  const [width, setWidth] = useState(null);
  useEffect(() => {
    const observer = new ResizeObserver(([entry]) => setWidth(Math.floor(entry.contentRect.width)));
    observer.observe(ref.current);
    return () => observer.disconnect();
  }, []);
  return width;
}

// `nodes`: Journey.nodes, the entry first, with their counts (at, reached,
// branches' customers) where the query asked for them.
export function FlowGraph({ id, name, nodes, status }) {
  const box = useRef(null);
  const width = useWidth(box);
  // The layout depends on the flow's shape only: counts moving redraw numbers, not places.
  const shape = JSON.stringify(nodes.map(({ at, reached, branches, ...rest }) => ({
    ...rest, branches: (branches || []).map(({ customers: _, ...b }) => b),
  })));
  const layouts = useMemo(() => ({ LR: layoutFlow(nodes, "LR"), TB: layoutFlow(nodes, "TB") }), [shape]);
  const layout = width === null ? null : fittingLayout(layouts, width);
  const counts = edgeCustomers(nodes, layouts.LR.edges);
  const uid = `flow-${String(id).replace(/[^A-Za-z0-9_-]/g, "")}`;
  const byKey = new Map(nodes.map((node) => [node.key, node]));
  const held = HELD.includes(status);
  const scrolls = layout !== null && layout.width > width;
  const hasCounts = nodes.some((node) => node.at != null);
  const direction = layout?.direction === "TB" ? "top to bottom" : "left to right";
  return html`<div class="flow" data-flow data-direction=${layout?.direction}>
    <div class="flow-scroll" ref=${box} tabindex=${scrolls ? "0" : undefined}
        role=${scrolls ? "group" : undefined} aria-label=${scrolls ? "The flow (scrolls sideways)" : undefined}>
      ${layout && html`<svg class="flow-svg" role="img" aria-labelledby=${`${uid}-title`}
          width=${layout.width} height=${layout.height} viewBox=${`0 0 ${layout.width} ${layout.height}`}>
        <title id=${`${uid}-title`}>The flow of “${name}”: ${plural(nodes.length, "node")}, drawn ${direction} from its entry, '${nodes[0].key}'. Each node and way out is described in the list that follows.</title>
        <defs>
          <marker id=${`${uid}-arrow`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
            orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" /></marker>
        </defs>
        ${layout.edges.map((edge) => html`<${Edge} key=${edge.id} edge=${edge} marker=${`${uid}-arrow`} />`)}
        ${layout.terminals.map((t) => html`<g class="flow-end" key=${t.id} data-end=${t.edge}>
          <rect x=${t.x} y=${t.y} width=${t.w} height=${t.h} rx=${Math.min(t.w, t.h) / 2} />
          <text x=${t.x + t.w / 2} y=${t.y + t.h / 2} text-anchor="middle" dominant-baseline="central">end</text>
        </g>`)}
        ${layout.nodes.map((laid) => html`<${Node} key=${laid.key} node=${byKey.get(laid.key)} box=${laid} held=${held} />`)}
        ${layout.edges.map((edge) => html`<${EdgeLabel} key=${edge.id} edge=${edge} count=${counts.get(edge.id)} />`)}
      </svg>`}
    </div>
    <ul class="sr-only" data-flow-words>
      ${nodes.map((node) => html`<li key=${node.key}>${sentence(node, layouts.LR.edges.filter((e) => e.from === node.key), counts)}</li>`)}
    </ul>
    ${hasCounts && html`<p class="legend" aria-hidden="true">The number in a box counts the customers at that node now${held ? `, held while the journey is ${status}` : ""}; the number on an arrow, the customers that went that way.</p>`}
  </div>`;
}
