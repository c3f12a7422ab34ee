/**
 * A sparse feature circuit from node effects and edges: nodes with |aggregated effect| above a
 * threshold (features and error nodes at every hook, plus the metric node "y"), edges between kept
 * nodes of consecutive hooks with |weight| above an edge threshold, and edges from the last hook's
 * nodes to y weighted by their node effects. Drawn with graphviz.ts.
 */
import { AttributionResult } from './attribution';
import { EdgeBlock } from './edges';
import { GraphSpec, effectFill, renderDotSvg, toDot } from './graphviz';
import { nodeId } from './ablationGraph';

export interface CircuitNode {
  /** nodeId(hook, j): "L.j" / "L.err" at blocks.L.hook_resid_pre, "L.<point>.j" / "L.<point>.err" at other block hooks, or "y" */
  id: string;
  hook: string;
  /** feature id; d_sae for the error node; -1 for y */
  feature: number;
  isError: boolean;
  effect: number;
}

export interface CircuitEdge { from: string; to: string; weight: number }

export interface Circuit {
  nodeThreshold: number;
  edgeThreshold: number;
  nodes: CircuitNode[];
  edges: CircuitEdge[];
  hooks: string[];
}

/** id of node j at a hook (j = d_sae: the error node). */
export function circuitNodeId(hook: string, j: number, dSae: number): string {
  return nodeId(hook, j === dSae ? 'err' : j);
}

/** Select the circuit (see the module comment). */
export function buildCircuit(attr: AttributionResult, edges: EdgeBlock[], opts: { nodeThreshold: number; edgeThreshold: number }): Circuit {
  const nodes: CircuitNode[] = [];
  const kept = new Map<string, Set<number>>();
  for (const h of attr.hooks) {
    const a = attr.byHook.get(h)!;
    const set = new Set<number>();
    a.nodes.forEach((v, j) => {
      if (Math.abs(v) > opts.nodeThreshold) {
        set.add(j);
        nodes.push({ id: circuitNodeId(h, j, a.dSae), hook: h, feature: j, isError: j === a.dSae, effect: v });
      }
    });
    kept.set(h, set);
  }
  const total = attr.metricPatch.reduce((s, v, i) => s + v - attr.metricClean[i], 0) / attr.N;
  nodes.push({ id: 'y', hook: 'y', feature: -1, isError: false, effect: total });
  const out: CircuitEdge[] = [];
  for (const b of edges) {
    const up = kept.get(b.up);
    const down = kept.get(b.down);
    if (!up || !down) continue;
    const dDown = attr.byHook.get(b.down)!.dSae;
    b.downNodes.forEach((k, r) => {
      if (!down.has(k)) return;
      for (const j of up) {
        const w = b.weights[r * (b.dUp + 1) + j];
        if (Math.abs(w) > opts.edgeThreshold) out.push({ from: circuitNodeId(b.up, j, b.dUp), to: circuitNodeId(b.down, k, dDown), weight: w });
      }
    });
  }
  const last = attr.hooks[attr.hooks.length - 1];
  const lastAttr = attr.byHook.get(last)!;
  for (const j of kept.get(last) ?? []) out.push({ from: circuitNodeId(last, j, lastAttr.dSae), to: 'y', weight: lastAttr.nodes[j] });
  return { nodeThreshold: opts.nodeThreshold, edgeThreshold: opts.edgeThreshold, nodes, edges: out, hooks: [...attr.hooks] };
}

/** Graph spec of a circuit: a box per hook (rows of at most 12 nodes), nodes filled by effect sign and size, y on top. */
export function circuitGraphSpec(c: Circuit, opts: { title?: string; describe?: (n: CircuitNode) => string[] } = {}): GraphSpec {
  const maxAbs = c.nodes.reduce((m, n) => Math.max(m, Math.abs(n.effect)), 0);
  return {
    title: opts.title,
    rankdir: 'BT',
    // a hook with many nodes wraps into rows of 12 inside its box (one row of 49 was a 4000 px strip, and
    // hooks as columns made it a 4000 px column)
    maxPerRow: 12,
    groups: [...c.hooks, 'y'],
    nodes: c.nodes.map((n) => ({
      id: n.id,
      label: n.id,
      group: n.hook,
      details: [`${n.effect >= 0 ? '+' : ''}${n.effect.toPrecision(3)}`, ...(opts.describe?.(n) ?? [])],
      fill: n.id === 'y' ? '#ffffff' : effectFill(n.effect, maxAbs),
      tooltip: `${n.hook} ${n.isError ? 'error' : n.feature >= 0 ? `feature ${n.feature}` : 'metric'}: ${n.effect}`,
    })),
    edges: c.edges.map((e) => ({ from: e.from, to: e.to, weight: e.weight })),
  };
}

/** DOT text of a circuit. */
export function circuitDot(c: Circuit, opts: { title?: string; describe?: (n: CircuitNode) => string[] } = {}): string {
  return toDot(circuitGraphSpec(c, opts));
}

/** SVG of a circuit (Graphviz wasm). */
export async function circuitSvg(c: Circuit, opts: { title?: string; describe?: (n: CircuitNode) => string[] } = {}): Promise<string> {
  return renderDotSvg(circuitDot(c, opts));
}
