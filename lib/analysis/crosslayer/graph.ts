import { SparseMatrix } from './storage';
import { louvain, WeightedGraph } from './louvain';

/** Pass-through share of one layer: features whose max Pearson with the next layer reaches a threshold. */
export interface PassThroughRow {
  layer: number;
  threshold: number;
  /** features of layer L with max_j rho(i, j) >= threshold */
  count: number;
  /** count / d_sae */
  share: number;
  /** count / (features of layer L that ever fired), when max activations were given */
  share_of_alive?: number;
}

/**
 * The seed's pass-through analysis: for each layer L < n_layers - 1, the share of layer-L features whose
 * largest Pearson correlation with any layer-(L+1) feature is >= each threshold (default 0.4 and 0.5).
 * `pearson[L]` is the stored `pearson_correlation` of pair (L, L+1); `maxActivations` (optional) gives
 * the alive features (max > 0) for the second denominator.
 */
export function passThrough(pearson: SparseMatrix[], thresholds = [0.4, 0.5], maxActivations?: Float32Array[]): PassThroughRow[] {
  const rows: PassThroughRow[] = [];
  pearson.forEach((m, L) => {
    const best = m.rowMax();
    const d = m.shape[0];
    const alive = maxActivations ? maxActivations[L].reduce((a, v) => a + (v > 0 ? 1 : 0), 0) : undefined;
    for (const thr of thresholds) {
      let count = 0;
      for (let i = 0; i < d; i++) if (best[i] >= thr) count++;
      rows.push({ layer: L, threshold: thr, count, share: count / d, ...(alive !== undefined ? { share_of_alive: alive > 0 ? count / alive : 0 } : {}) });
    }
  });
  return rows;
}

/** A node of the cross-layer feature graph. */
export interface FeatureNode {
  /** "L/feature", e.g. "3/1207" */
  id: string;
  layer: number;
  feature: number;
  /** Louvain community (filled by featureGraph) */
  community: number;
}

export interface FeatureEdge {
  source: string;
  target: string;
  weight: number;
}

export interface FeatureGraph {
  stat: string;
  nodes: FeatureNode[];
  edges: FeatureEdge[];
  /** modularity of the Louvain partition */
  modularity: number;
  communities: number;
}

/**
 * Feature graph across layers from the strongest links: for each adjacent pair, edges (L/i -> L+1/j)
 * with value >= `min_weight` of the statistic (default Pearson), keeping each layer-L feature's
 * `top_k` strongest outgoing links; nodes are the features with at least one edge. Communities by
 * Louvain on the undirected weighted graph.
 */
export function featureGraph(pairs: Array<Record<string, SparseMatrix>>, options: { stat?: string; min_weight?: number; top_k?: number; seed?: number; resolution?: number } = {}): FeatureGraph {
  const stat = options.stat ?? 'pearson_correlation';
  const minW = options.min_weight ?? 0.5;
  const topK = options.top_k ?? 3;
  const nodeIndex = new Map<string, number>();
  const nodes: FeatureNode[] = [];
  const node = (layer: number, feature: number): number => {
    const id = `${layer}/${feature}`;
    let k = nodeIndex.get(id);
    if (k === undefined) {
      k = nodes.length;
      nodeIndex.set(id, k);
      nodes.push({ id, layer, feature, community: -1 });
    }
    return k;
  };
  const edges: FeatureEdge[] = [];
  const wEdges: Array<[number, number, number]> = [];
  pairs.forEach((p, L) => {
    const m = p[stat];
    if (!m) throw new Error(`layer pair ${L}: no statistic '${stat}' (have: ${Object.keys(p).join(', ')})`);
    let k = 0;
    while (k < m.nnz) {
      const i = m.rows[k];
      const cand: Array<[number, number]> = [];
      for (; k < m.nnz && m.rows[k] === i; k++) if (m.values[k] >= minW) cand.push([m.cols[k], m.values[k]]);
      cand.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      for (const [j, v] of cand.slice(0, topK)) {
        const a = node(L, i), b = node(L + 1, j);
        edges.push({ source: nodes[a].id, target: nodes[b].id, weight: v });
        wEdges.push([a, b, v]);
      }
    }
  });
  const g: WeightedGraph = { n: nodes.length, edges: wEdges };
  const res = louvain(g, { seed: options.seed, resolution: options.resolution });
  nodes.forEach((nd, v) => { nd.community = res.communities[v]; });
  return { stat, nodes, edges, modularity: res.modularity, communities: res.count };
}
