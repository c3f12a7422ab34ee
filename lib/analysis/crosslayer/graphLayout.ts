/**
 * Layout of a layered feature graph that stays readable at thousands of features: one column per layer
 * and one horizontal band (lane) per community, largest first; inside a lane, features are ordered by the
 * mean position of their neighbours in the next and previous layers (barycentre sweeps), so links inside a
 * community run nearly straight and only links between communities cross lanes.
 *
 * Both functions are self-contained (no imports, no outer references): the graph browser page embeds
 * their source, so the notebook's plot and the page draw the same layout.
 */

export interface LayoutNode { id: string; layer: number; feature: number; community: number }
export interface LayoutEdge { source: string; target: string; weight: number }

export interface LaneLayout {
  /** layers present, ascending: column c shows layers[c] */
  layers: number[];
  /** node id -> column and row (rows from the top; fractional where a layer has fewer members than its lane is tall) */
  pos: Record<string, { col: number; row: number }>;
  /** one band per community in rank order: first row, height in rows, members drawn */
  lanes: Array<{ community: number; start: number; height: number; size: number }>;
  /** rows in all (lanes plus one empty row between lanes) */
  rows: number;
}

/** Community -> rank (0 = largest): by members, then by summed |weight| of links inside it, then by id. */
export function communityRanks(nodes: LayoutNode[], edges: LayoutEdge[]): Record<number, number> {
  const size: Record<number, number> = {};
  const weight: Record<number, number> = {};
  const of: Record<string, number> = {};
  for (const n of nodes) { size[n.community] = (size[n.community] ?? 0) + 1; weight[n.community] = 0; of[n.id] = n.community; }
  for (const e of edges) if (of[e.source] !== undefined && of[e.source] === of[e.target]) weight[of[e.source]] += Math.abs(e.weight);
  const ids = Object.keys(size).map(Number).sort((a, b) => size[b] - size[a] || weight[b] - weight[a] || a - b);
  const rank: Record<number, number> = {};
  ids.forEach((c, i) => { rank[c] = i; });
  return rank;
}

/** Lanes-by-community layout of `nodes` with `edges` among them (see the module comment). */
export function laneLayout(nodes: LayoutNode[], edges: LayoutEdge[], rank: Record<number, number>, sweeps = 6): LaneLayout {
  const byId: Record<string, LayoutNode> = {};
  for (const n of nodes) byId[n.id] = n;
  const inn: Record<string, string[]> = {};
  const out: Record<string, string[]> = {};
  for (const e of edges) {
    if (!byId[e.source] || !byId[e.target]) continue;
    (out[e.source] = out[e.source] ?? []).push(e.target);
    (inn[e.target] = inn[e.target] ?? []).push(e.source);
  }
  const layers = [...new Set(nodes.map((n) => n.layer))].sort((a, b) => a - b);
  const r = (n: LayoutNode) => rank[n.community] ?? 1e9;
  const cols = layers.map((l) => nodes.filter((n) => n.layer === l).sort((a, b) => r(a) - r(b) || a.feature - b.feature));
  const at: Record<string, number> = {};
  const index = () => { for (const c of cols) c.forEach((n, i) => { at[n.id] = c.length > 1 ? i / (c.length - 1) : 0.5; }); };
  index();
  const sweep = (c: number, nb: Record<string, string[]>) => {
    const key: Record<string, number> = {};
    for (const n of cols[c]) {
      const ns = nb[n.id] ?? [];
      key[n.id] = ns.length ? ns.reduce((s, o) => s + at[o], 0) / ns.length : at[n.id];
    }
    cols[c].sort((a, b) => r(a) - r(b) || key[a.id] - key[b.id] || a.feature - b.feature);
    index();
  };
  for (let it = 0; it < sweeps; it++) {
    for (let c = 1; c < cols.length; c++) sweep(c, inn);
    for (let c = cols.length - 2; c >= 0; c--) sweep(c, out);
  }
  const count: Record<number, Record<number, number>> = {};
  for (const n of nodes) { count[n.community] = count[n.community] ?? {}; count[n.community][n.layer] = (count[n.community][n.layer] ?? 0) + 1; }
  const lanes: LaneLayout['lanes'] = [];
  const laneOf: Record<number, LaneLayout['lanes'][number]> = {};
  let rows = 0;
  for (const k of Object.keys(count).map(Number).sort((a, b) => (rank[a] ?? 1e9) - (rank[b] ?? 1e9) || a - b)) {
    const height = Math.max(...Object.values(count[k]));
    const lane = { community: k, start: rows, height, size: Object.values(count[k]).reduce((s, v) => s + v, 0) };
    lanes.push(lane);
    laneOf[k] = lane;
    rows += height + 1;
  }
  const pos: LaneLayout['pos'] = {};
  cols.forEach((c, ci) => {
    const next: Record<number, number> = {};
    for (const n of c) {
      const lane = laneOf[n.community];
      const i = next[n.community] ?? 0;
      next[n.community] = i + 1;
      pos[n.id] = { col: ci, row: lane.start + (lane.height - count[n.community][n.layer]) / 2 + i };
    }
  });
  return { layers, pos, lanes, rows: Math.max(0, rows - 1) };
}
