/**
 * Louvain community detection (Blondel et al. 2008) on an undirected weighted graph: repeated local
 * moving of single nodes to the neighbouring community with the best modularity gain, then
 * aggregation of communities into super-nodes, until modularity stops improving. Deterministic: nodes
 * are visited in a fixed order given by a seeded shuffle.
 */

/** Undirected weighted edge list over nodes 0..n-1 (each edge listed once; self-loops allowed). */
export interface WeightedGraph {
  n: number;
  edges: Array<[number, number, number]>;
}

export interface LouvainResult {
  /** community id (0..k-1, by first appearance) of each node */
  communities: Int32Array;
  /** number of communities */
  count: number;
  /** modularity of the final partition */
  modularity: number;
  /** levels of aggregation performed */
  levels: number;
}

/** Adjacency in compressed rows; each undirected edge appears in both rows, a self-loop once with weight 2w. */
interface Csr {
  n: number;
  ptr: Int32Array;
  nbr: Int32Array;
  w: Float64Array;
  /** weighted degree of each node */
  k: Float64Array;
  /** total edge weight m */
  m: number;
}

function toCsr(n: number, edges: Array<[number, number, number]>): Csr {
  const deg = new Int32Array(n + 1);
  for (const [a, b] of edges) {
    if (!(a >= 0 && a < n && b >= 0 && b < n)) throw new Error(`edge (${a}, ${b}) is outside nodes 0..${n - 1}`);
    deg[a + 1]++;
    if (a !== b) deg[b + 1]++;
  }
  for (let v = 0; v < n; v++) deg[v + 1] += deg[v];
  const ptr = deg.slice();
  const fill = deg.slice(0, n);
  const nbr = new Int32Array(ptr[n]);
  const w = new Float64Array(ptr[n]);
  const k = new Float64Array(n);
  let m = 0;
  for (const [a, b, wt] of edges) {
    if (!(wt >= 0)) throw new Error(`edge (${a}, ${b}) has weight ${wt}; Louvain needs non-negative weights`);
    m += wt;
    if (a === b) {
      nbr[fill[a]] = a; w[fill[a]++] = 2 * wt; k[a] += 2 * wt;
    } else {
      nbr[fill[a]] = b; w[fill[a]++] = wt; k[a] += wt;
      nbr[fill[b]] = a; w[fill[b]++] = wt; k[b] += wt;
    }
  }
  return { n, ptr, nbr, w, k, m };
}

/** Modularity Q = (1/2m) sum_ij [A_ij - k_i k_j / 2m] delta(c_i, c_j) of a partition. */
export function modularity(g: WeightedGraph, communities: ArrayLike<number>): number {
  const c = toCsr(g.n, g.edges);
  if (c.m === 0) return 0;
  const inW = new Map<number, number>();
  const tot = new Map<number, number>();
  for (let v = 0; v < c.n; v++) {
    tot.set(communities[v], (tot.get(communities[v]) ?? 0) + c.k[v]);
    for (let e = c.ptr[v]; e < c.ptr[v + 1]; e++) if (communities[c.nbr[e]] === communities[v]) inW.set(communities[v], (inW.get(communities[v]) ?? 0) + c.w[e]);
  }
  let q = 0;
  for (const [comm, t] of tot) q += (inW.get(comm) ?? 0) / (2 * c.m) - (t / (2 * c.m)) ** 2;
  return q;
}

function shuffled(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let v = 0; v < n; v++) order[v] = v;
  let a = seed >>> 0;
  for (let v = n - 1; v > 0; v--) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    const r = a % (v + 1);
    const t = order[v]; order[v] = order[r]; order[r] = t;
  }
  return order;
}

/** One level of local moving; returns the community of each node and whether anything moved. */
function localMoving(c: Csr, seed: number, resolution: number): { comm: Int32Array; moved: boolean } {
  const { n, ptr, nbr, w, k, m } = c;
  const comm = new Int32Array(n);
  const tot = new Float64Array(n);
  for (let v = 0; v < n; v++) { comm[v] = v; tot[v] = k[v]; }
  const order = shuffled(n, seed);
  const linkW = new Float64Array(n);
  const touched: number[] = [];
  let moved = false;
  let improved = true;
  while (improved) {
    improved = false;
    for (let q = 0; q < n; q++) {
      const v = order[q];
      const cv = comm[v];
      // weights from v to each neighbouring community (self-loops excluded)
      for (let e = ptr[v]; e < ptr[v + 1]; e++) {
        const u = nbr[e];
        if (u === v) continue;
        const cu = comm[u];
        if (linkW[cu] === 0) touched.push(cu);
        linkW[cu] += w[e];
      }
      tot[cv] -= k[v];
      // gain of joining community C (v removed): k_v,in(C) - resolution * tot(C) k_v / 2m
      let best = cv;
      let bestGain = linkW[cv] - (resolution * tot[cv] * k[v]) / (2 * m);
      for (const cu of touched) {
        const gain = linkW[cu] - (resolution * tot[cu] * k[v]) / (2 * m);
        if (gain > bestGain + 1e-12) {
          best = cu;
          bestGain = gain;
        }
      }
      tot[best] += k[v];
      if (best !== cv) {
        comm[v] = best;
        improved = true;
        moved = true;
      }
      for (const cu of touched) linkW[cu] = 0;
      linkW[cv] = 0;
      touched.length = 0;
    }
  }
  return { comm, moved };
}

/** Louvain communities of a weighted undirected graph. `resolution` 1 gives standard modularity. */
export function louvain(g: WeightedGraph, options: { seed?: number; resolution?: number; max_levels?: number } = {}): LouvainResult {
  const seed = options.seed ?? 1;
  const resolution = options.resolution ?? 1;
  const maxLevels = options.max_levels ?? 50;
  let membership = new Int32Array(g.n);
  for (let v = 0; v < g.n; v++) membership[v] = v;
  let csr = toCsr(g.n, g.edges);
  let levels = 0;
  if (csr.m > 0) {
    for (; levels < maxLevels; levels++) {
      const { comm, moved } = localMoving(csr, seed + levels, resolution);
      if (!moved) break;
      // renumber communities 0..k-1
      const id = new Int32Array(csr.n).fill(-1);
      let kc = 0;
      for (let v = 0; v < csr.n; v++) if (id[comm[v]] === -1) id[comm[v]] = kc++;
      membership = membership.map((x) => id[comm[x]]);
      // aggregate: super-node per community, edge weights summed (intra -> self-loop)
      const agg = new Map<number, number>();
      for (let v = 0; v < csr.n; v++) {
        for (let e = csr.ptr[v]; e < csr.ptr[v + 1]; e++) {
          const u = csr.nbr[e];
          if (u < v) continue; // each undirected edge once (self-loops stored once with 2w)
          const a = id[comm[v]], b = id[comm[u]];
          const key = Math.min(a, b) * kc + Math.max(a, b);
          agg.set(key, (agg.get(key) ?? 0) + (u === v ? csr.w[e] / 2 : csr.w[e]));
        }
      }
      const edges: Array<[number, number, number]> = [];
      for (const [key, wt] of agg) edges.push([Math.floor(key / kc), key % kc, wt]);
      csr = toCsr(kc, edges);
      if (kc === 1) { levels++; break; }
    }
  }
  // final renumbering by first appearance
  const id = new Map<number, number>();
  const communities = new Int32Array(g.n);
  for (let v = 0; v < g.n; v++) {
    if (!id.has(membership[v])) id.set(membership[v], id.size);
    communities[v] = id.get(membership[v])!;
  }
  return { communities, count: id.size, modularity: modularity(g, communities), levels };
}
