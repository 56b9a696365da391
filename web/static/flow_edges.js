// A journey's flow as edges: each way out of each node, with the branch it
// counts its customers under and its label (flow_layout.js places them).

// Each way out of a node, in its order: the node's key, the target's key
// (null: the walk ends), the branch it counts its customers under (null for
// WAIT and SEND, whose one way out is `next`), and its label.
export function flowEdges(nodes) {
  const keys = new Set(nodes.map((node) => node.key));
  const edges = [];
  for (const node of nodes) {
    waysOut(node).forEach((way, index) => {
      const to = way.next != null && keys.has(way.next) ? way.next : null;
      edges.push({ id: `${node.key}#${index}`, from: node.key, to, branch: way.branch, label: way.label });
    });
  }
  return edges;
}

function waysOut(node) {
  switch (node.type) {
    case "WAIT":
    case "SEND":
      return [{ branch: null, label: "", next: node.next }];
    case "WAIT_FOR_EVENT":
      return [
        { branch: "event", label: "event", next: node.next },
        { branch: "timeout", label: "timeout", next: node.onTimeout },
      ];
    case "CONDITION":
      return [
        { branch: "yes", label: "yes", next: node.yes },
        { branch: "no", label: "no", next: node.no },
      ];
    case "SPLIT":
      return (node.branches || []).map((b) => ({
        branch: b.key,
        label: `${b.key} ${b.percent == null ? "others" : `${b.percent}%`}`,
        next: b.next,
      }));
    default: // EXIT
      return [];
  }
}
