// Where to draw a journey's flow: a layered layout of its nodes, pure (no DOM),
// so that it can be tested by itself (tests/browser/test_flow_graph.py).
//
// A flow is a list of nodes, the first the entry, acyclic (checked at save).
// Layers by longest path from the entry; an edge longer than one layer runs
// through a point in each layer it crosses (a "dummy"), so it goes between
// boxes, never through them; the order within each layer comes from a few
// barycenter sweeps, keeping the one with the fewest crossings; positions
// across the layers are the closest (least squares) to the mean of each
// item's neighbours that keep the items apart, in order. A target of null
// ends the walk: a small "end" terminal one layer after its node.

import { flowEdges } from "./flow_edges.js";

// Sizes in px. "along" runs with the flow (x left to right, y top to bottom),
// "across" the other way. A layer of "end" terminals only comes after a
// shorter gap (endGap): its edges carry a count, seldom a branch's label.
export const SIZES = {
  LR: { node: { along: 144, across: 64 }, terminal: { along: 40, across: 22 }, layerGap: 92, endGap: 56, itemGap: 22 },
  TB: { node: { along: 64, across: 140 }, terminal: { along: 22, across: 36 }, layerGap: 56, endGap: 44, itemGap: 14 },
};
const DUMMY = 4; // across: an edge's width, for spacing
const MARGIN = 8;
const PORT_SPACING = 16;
const SWEEPS = 12;
const ROUNDS = 3;

// Longest-path layers from the entry, in topological order (Kahn's). Were
// the graph to have a loop after all, the nodes on it keep layer 0 rather
// than the layout failing.
function layersOf(nodes, edges) {
  const layer = new Map(nodes.map((node) => [node.key, 0]));
  const into = new Map(nodes.map((node) => [node.key, 0]));
  const out = new Map(nodes.map((node) => [node.key, []]));
  for (const edge of edges) {
    if (edge.to === null) continue;
    into.set(edge.to, into.get(edge.to) + 1);
    out.get(edge.from).push(edge.to);
  }
  const ready = nodes.filter((node) => into.get(node.key) === 0).map((node) => node.key);
  while (ready.length) {
    const key = ready.shift();
    for (const to of out.get(key)) {
      layer.set(to, Math.max(layer.get(to), layer.get(key) + 1));
      into.set(to, into.get(to) - 1);
      if (into.get(to) === 0) ready.push(to);
    }
  }
  return layer;
}

// Items (nodes, terminals, dummies) and the segments between them, each
// segment from one layer to the next.
function itemsOf(nodes, edges, layer, size) {
  const items = new Map();
  const add = (id, kind, at, extent) => {
    const item = { id, kind, layer: at, across: extent.across, along: extent.along, ins: [], outs: [] };
    items.set(id, item);
    return item;
  };
  for (const node of nodes) add(node.key, "node", layer.get(node.key), size.node).key = node.key;
  const chains = new Map();
  for (const edge of edges) {
    const from = layer.get(edge.from);
    const end = edge.to === null
      ? add(`end:${edge.id}`, "terminal", from + 1, size.terminal)
      : items.get(edge.to);
    const chain = [items.get(edge.from)];
    for (let at = from + 1; at < end.layer; at += 1) chain.push(add(`${edge.id}~${at}`, "dummy", at, { across: DUMMY, along: 0 }));
    chain.push(end);
    for (let i = 0; i + 1 < chain.length; i += 1) {
      const segment = { edge: edge.id, from: chain[i], to: chain[i + 1] };
      chain[i].outs.push(segment);
      chain[i + 1].ins.push(segment);
    }
    chains.set(edge.id, chain);
  }
  return { items, chains };
}

// The first order: depth first from the entry, each node's ways out in their
// order, so a straight line stays one and branches start in their order.
function firstOrder(nodes, items, layerCount) {
  const layers = Array.from({ length: layerCount }, () => []);
  const placed = new Set();
  const visit = (item) => {
    if (placed.has(item.id)) return;
    placed.add(item.id);
    layers[item.layer].push(item);
    for (const segment of item.outs) visit(segment.to);
  };
  for (const node of nodes) visit(items.get(node.key));
  return layers;
}

// A segment's end on its source, as a fraction of a position: the ways out
// of a node keep their order among themselves.
const portShift = (segment) => {
  const n = segment.from.outs.length;
  return n > 1 ? (segment.from.outs.indexOf(segment) / (n - 1) - 0.5) * 0.5 : 0;
};

function crossings(layers) {
  let count = 0;
  for (let l = 0; l + 1 < layers.length; l += 1) {
    const segments = [];
    for (const item of layers[l]) {
      for (const s of item.outs) if (s.to.layer === l + 1) segments.push([item.index + portShift(s), s.to.index]);
    }
    for (let i = 0; i < segments.length; i += 1) {
      for (let j = i + 1; j < segments.length; j += 1) {
        if ((segments[i][0] - segments[j][0]) * (segments[i][1] - segments[j][1]) < 0) count += 1;
      }
    }
  }
  return count;
}

const index = (layers) => layers.forEach((layer) => layer.forEach((item, i) => { item.index = i; }));

function sweep(layers, down) {
  const range = down ? layers.map((_, l) => l).slice(1) : layers.map((_, l) => l).slice(0, -1).reverse();
  for (const l of range) {
    const weight = new Map();
    for (const item of layers[l]) {
      const near = down
        ? item.ins.filter((s) => s.from.layer === l - 1).map((s) => s.from.index + portShift(s))
        : item.outs.filter((s) => s.to.layer === l + 1).map((s) => s.to.index);
      weight.set(item, near.length ? near.reduce((a, b) => a + b, 0) / near.length : item.index);
    }
    layers[l].sort((a, b) => weight.get(a) - weight.get(b) || a.index - b.index);
    layers[l].forEach((item, i) => { item.index = i; });
  }
}

function order(layers) {
  index(layers);
  let best = layers.map((layer) => [...layer]);
  let fewest = crossings(layers);
  for (let i = 0; i < SWEEPS && fewest > 0; i += 1) {
    sweep(layers, i % 2 === 0);
    const count = crossings(layers);
    if (count < fewest) {
      fewest = count;
      best = layers.map((layer) => [...layer]);
    }
  }
  index(best);
  return best;
}

// The positions across, in order and apart, closest to `wanted` (least
// squares, dummies counting half): pool adjacent violators on the wanted
// positions less each item's least offset from the first.
function pack(layer, wanted, gap) {
  const offsets = [];
  let offset = 0;
  layer.forEach((item, i) => {
    if (i > 0) offset += layer[i - 1].across / 2 + gap + item.across / 2;
    offsets.push(offset);
  });
  const blocks = [];
  layer.forEach((item, i) => {
    const weight = item.kind === "dummy" ? 0.5 : 1;
    blocks.push({ sum: (wanted[i] - offsets[i]) * weight, weight, count: 1 });
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1];
      const before = blocks[blocks.length - 2];
      if (before.sum / before.weight <= last.sum / last.weight) break;
      blocks.pop();
      before.sum += last.sum;
      before.weight += last.weight;
      before.count += last.count;
    }
  });
  let i = 0;
  for (const block of blocks) {
    for (let k = 0; k < block.count; k += 1, i += 1) layer[i].center = offsets[i] + block.sum / block.weight;
  }
}

function place(layers, gap) {
  for (const layer of layers) pack(layer, layer.map(() => 0), gap);
  const pass = (down) => {
    const range = down ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const layer of range) {
      const wanted = layer.map((item) => {
        const near = down ? item.ins.map((s) => s.from.center) : item.outs.map((s) => s.to.center);
        return near.length ? near.reduce((a, b) => a + b, 0) / near.length : item.center;
      });
      pack(layer, wanted, gap);
    }
  };
  for (let round = 0; round < ROUNDS; round += 1) {
    pass(true);
    pass(false);
  }
  pass(true);
}

// Where a node's segments leave (or arrive): spread across its side, in the
// order of the items at their other ends, so that they do not cross there.
function ports(item, segments, other) {
  const sorted = [...segments].sort((a, b) => other(a).center - other(b).center);
  const spacing = Math.max(0, Math.min(PORT_SPACING, (item.across - 12) / Math.max(1, sorted.length - 1)));
  return new Map(sorted.map((s, i) => [s, (i - (sorted.length - 1) / 2) * spacing]));
}

const fmt = (n) => Math.round(n * 10) / 10;

// A path through `points` ([along, across] pairs), taken two by two: from a
// point to the next across a gap between layers a curve, leaving and arriving
// along the flow; within a layer (through a dummy) a straight line.
function pathOf(points, lr) {
  const xy = (a, c) => (lr ? `${fmt(a)},${fmt(c)}` : `${fmt(c)},${fmt(a)}`);
  let d = `M${xy(...points[0])}`;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const [a1, c1] = points[i];
    const [a2, c2] = points[i + 1];
    const mid = (a1 + a2) / 2;
    if (i > 0) d += `L${xy(a1, c1)}`;
    d += `C${xy(mid, c1)} ${xy(mid, c2)} ${xy(a2, c2)}`;
  }
  return d;
}

// The layout of `nodes` drawn left to right ("LR") or top to bottom ("TB"):
// { direction, width, height, nodes: [{ key, x, y, w, h, layer }] in the
// nodes' order, terminals: [{ id, edge, x, y, w, h }], edges: [{ id, from,
// to, branch, label, d (an SVG path), labelAt: { x, y } }] }.
export function layoutFlow(nodes, direction = "LR") {
  if (nodes.length === 0) return { direction, width: 0, height: 0, nodes: [], terminals: [], edges: [] };
  const size = SIZES[direction];
  const edges = flowEdges(nodes);
  const layer = layersOf(nodes, edges);
  const layerCount = Math.max(0, ...[...layer.values()].map((l) => l + 1), ...edges.filter((e) => e.to === null).map((e) => layer.get(e.from) + 2));
  const { items, chains } = itemsOf(nodes, edges, layer, size);
  const layers = order(firstOrder(nodes, items, layerCount));
  place(layers, size.itemGap);

  const low = Math.min(0, ...[...items.values()].map((item) => item.center - item.across / 2));
  const starts = [];
  const thickness = layers.map((row) => Math.max(0, ...row.map((item) => item.along)));
  let along = MARGIN;
  layers.forEach((row, l) => {
    if (l > 0) along += thickness[l - 1] + (row.every((item) => item.kind === "terminal") ? size.endGap : size.layerGap);
    starts.push(along);
  });
  const alongEnd = along + thickness[layers.length - 1] + MARGIN;
  const acrossEnd = Math.max(0, ...[...items.values()].map((item) => item.center + item.across / 2)) - low + 2 * MARGIN;
  for (const item of items.values()) {
    item.start = starts[item.layer];
    item.end = item.start + (item.kind === "dummy" ? thickness[item.layer] : item.along);
    item.center += MARGIN - low;
  }

  const lr = direction === "LR";
  const box = (item) => (lr
    ? { x: item.start, y: item.center - item.across / 2, w: item.along, h: item.across }
    : { x: item.center - item.across / 2, y: item.start, w: item.across, h: item.along });
  const outPorts = new Map();
  const inPorts = new Map();
  for (const item of items.values()) {
    for (const [s, shift] of ports(item, item.outs, (x) => x.to)) outPorts.set(s, shift);
    for (const [s, shift] of ports(item, item.ins, (x) => x.from)) inPorts.set(s, shift);
  }
  const point = (a, c) => (lr ? [a, c] : [c, a]);
  const laidEdges = edges.map((edge) => {
    const chain = chains.get(edge.id);
    const points = [];
    for (let i = 0; i + 1 < chain.length; i += 1) {
      const segment = chain[i].outs.find((s) => s.edge === edge.id);
      points.push([chain[i].end, chain[i].center + outPorts.get(segment)]);
      points.push([chain[i + 1].start, chain[i + 1].center + inPorts.get(segment)]);
    }
    const [[a1, c1], [a2, c2]] = points;
    const [x, y] = point((a1 + a2) / 2, (c1 + c2) / 2);
    return { ...edge, d: pathOf(points, lr), labelAt: { x: fmt(x), y: fmt(y) } };
  });

  return {
    direction,
    width: Math.ceil(lr ? alongEnd : acrossEnd),
    height: Math.ceil(lr ? acrossEnd : alongEnd),
    nodes: nodes.map((node) => ({ key: node.key, layer: layer.get(node.key), ...box(items.get(node.key)) })),
    terminals: [...items.values()].filter((item) => item.kind === "terminal")
      .map((item) => ({ id: item.id, edge: item.id.slice(4), ...box(item) })),
    edges: laidEdges,
  };
}

// Left to right where that fits `width`, else top to bottom where that
// fits or is at least narrower; what does not fit scrolls in its own box.
export function fittingLayout(layouts, width) {
  const { LR, TB } = layouts;
  if (LR.width <= width) return LR;
  return TB.width <= width || TB.width < LR.width ? TB : LR;
}
