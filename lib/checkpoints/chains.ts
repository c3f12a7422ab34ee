/**
 * Feature chains across consecutive training checkpoints: each checkpoint's SAE features are matched one
 * to one to the next checkpoint's (optimal assignment); a match at or above `matchThreshold` continues a
 * feature. From the links: births (no predecessor), deaths (no successor), splits / merges (a feature with
 * several strong partners in the next / previous checkpoint), and drift (similarity to the final checkpoint).
 */
import { DenseMatrix, checkMatrix } from './assignment';
import { MatchingMemo } from './match';
import { mean } from '../analysis/stats';

export interface ChainOptions {
  /** a matched pair at or above this similarity continues a feature (default 0.7) */
  matchThreshold?: number;
  /** partners at or above this similarity are strong (splits / merges; default 0.5) */
  strongThreshold?: number;
}

export interface ChainInput {
  /** training step of each checkpoint, in order */
  steps: number[];
  /** similarity between checkpoint t and t + 1, [d_sae_t, d_sae_t+1], t = 0 .. T-2 */
  consecutive: DenseMatrix[];
  /** optional: similarity between checkpoint t and the final one, [d_sae_t, d_sae_last], t = 0 .. T-2 (drift) */
  toFinal?: DenseMatrix[];
  /** optional: live features of each checkpoint (1 = alive) [d_sae_t]; dead features take part in nothing */
  alive?: Uint8Array[];
}

/** One feature followed through consecutive checkpoints. */
export interface FeatureChain {
  id: number;
  /** checkpoint index where the chain starts and where it was last present */
  start: number;
  end: number;
  /** feature index at checkpoints start .. end */
  features: number[];
  /** similarity of each link (length features.length - 1) */
  links: number[];
  /** minimum / mean link similarity (1 for a single checkpoint) */
  minLink: number;
  meanLink: number;
  /** similarity of the chain's feature at each checkpoint to the chain's final-checkpoint feature (chains reaching the end, with toFinal) */
  drift?: number[];
}

export interface SplitMerge {
  /** the checkpoint pair (t, t + 1) by index */
  from: number;
  /** split: the feature at t and its strong partners at t + 1; merge: the feature at t + 1 and its strong partners at t */
  feature: number;
  partners: number[];
  similarities: number[];
}

export interface StepEvents {
  step: number;
  alive: number;
  /** features with no predecessor (0 at the first checkpoint by definition) */
  births: number;
  /** features with no successor (0 at the final checkpoint) */
  deaths: number;
  splits: number;
  merges: number;
  /** mean similarity of the optimal matching to the final checkpoint over live features (1 at the final one; NaN without toFinal) */
  meanSimilarityToFinal: number;
  /** mean similarity of the optimal matching to the next checkpoint over live features (NaN at the last) */
  meanSimilarityToNext: number;
}

export interface ChainAnalysis {
  steps: number[];
  chains: FeatureChain[];
  /** chain id of each feature at each checkpoint (-1 for dead features) */
  chainOf: Int32Array[];
  /** optimal partner at t + 1 of each feature at t (-1 unmatched), and its similarity */
  nextPartner: Int32Array[];
  nextSimilarity: Float32Array[];
  /** optimal partner at the final checkpoint of each feature at t, and its similarity (with toFinal) */
  finalPartner?: Int32Array[];
  finalSimilarity?: Float32Array[];
  splits: SplitMerge[];
  merges: SplitMerge[];
  events: StepEvents[];
  options: Required<ChainOptions>;
}

/**
 * Follow features through checkpoints: links, chains, births, deaths, splits, merges, drift. `memo` holds
 * the assignments already computed (a matrix given twice, or again by the caller, is assigned once).
 */
export function analyzeChains(input: ChainInput, opts: ChainOptions = {}, memo = new MatchingMemo()): ChainAnalysis {
  const options = { matchThreshold: opts.matchThreshold ?? 0.7, strongThreshold: opts.strongThreshold ?? 0.5 };
  const T = input.steps.length;
  if (T < 1) throw new Error('analyzeChains: no checkpoints');
  if (input.consecutive.length !== T - 1) throw new Error(`analyzeChains: ${T} checkpoints need ${T - 1} consecutive similarity matrices, got ${input.consecutive.length}`);
  const sizes = T === 1 ? [input.alive?.[0]?.length ?? 0] : [input.consecutive[0].rows, ...input.consecutive.map((m) => m.cols)];
  input.consecutive.forEach((m, t) => {
    checkMatrix(m, `consecutive[${t}] (steps ${input.steps[t]} -> ${input.steps[t + 1]})`);
    if (m.rows !== sizes[t]) throw new Error(`consecutive[${t}] has ${m.rows} rows but checkpoint ${t} has ${sizes[t]} features (consecutive[${t - 1}] columns)`);
  });
  if (input.toFinal && input.toFinal.length !== T - 1) throw new Error(`analyzeChains: toFinal needs ${T - 1} matrices (checkpoints 0 .. T-2 against the last), got ${input.toFinal.length}`);
  input.toFinal?.forEach((m, t) => {
    checkMatrix(m, `toFinal[${t}]`);
    if (m.rows !== sizes[t] || m.cols !== sizes[T - 1]) throw new Error(`toFinal[${t}] has shape [${m.rows}, ${m.cols}], expected [${sizes[t]}, ${sizes[T - 1]}]`);
  });
  const alive = sizes.map((n, t) => {
    const a = input.alive?.[t];
    if (a && a.length !== n) throw new Error(`alive[${t}] has ${a.length} entries, checkpoint ${t} has ${n} features`);
    return a ?? new Uint8Array(n).fill(1);
  });

  // optimal matching between consecutive checkpoints (dead features' similarities are floored so they never win)
  const nextPartner: Int32Array[] = [];
  const nextSimilarity: Float32Array[] = [];
  const incoming: Int32Array[] = sizes.map((n) => new Int32Array(n).fill(-1));
  for (let t = 0; t < T - 1; t++) {
    const m = input.consecutive[t];
    const masked = maskDead(m, alive[t], alive[t + 1]);
    const match = memo.match(masked);
    const partner = new Int32Array(m.rows).fill(-1);
    const sim = new Float32Array(m.rows).fill(NaN);
    for (let i = 0; i < m.rows; i++) {
      const j = match.assignment[i];
      if (j < 0 || !alive[t][i] || !alive[t + 1][j]) continue;
      partner[i] = j;
      sim[i] = m.values[i * m.cols + j];
      if (sim[i] >= options.matchThreshold) incoming[t + 1][j] = i;
    }
    nextPartner.push(partner);
    nextSimilarity.push(sim);
  }

  // chains: start at every live feature without a linked predecessor, follow links forward
  const chains: FeatureChain[] = [];
  const chainOf = sizes.map((n) => new Int32Array(n).fill(-1));
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < sizes[t]; i++) {
      if (!alive[t][i] || incoming[t][i] >= 0) continue;
      const features = [i];
      const links: number[] = [];
      let cur = i;
      let u = t;
      while (u < T - 1 && nextPartner[u][cur] >= 0 && nextSimilarity[u][cur] >= options.matchThreshold) {
        links.push(nextSimilarity[u][cur]);
        cur = nextPartner[u][cur];
        u++;
        features.push(cur);
      }
      const id = chains.length;
      features.forEach((f, k) => (chainOf[t + k][f] = id));
      chains.push({ id, start: t, end: u, features, links, minLink: links.length ? Math.min(...links) : 1, meanLink: links.length ? mean(links) : 1 });
    }
  }

  // splits and merges: several strong partners (similarity >= strongThreshold) among live features
  const splits: SplitMerge[] = [];
  const merges: SplitMerge[] = [];
  for (let t = 0; t < T - 1; t++) {
    const m = input.consecutive[t];
    for (let i = 0; i < m.rows; i++) {
      if (!alive[t][i]) continue;
      const partners: number[] = [];
      const sims: number[] = [];
      for (let j = 0; j < m.cols; j++) if (alive[t + 1][j] && m.values[i * m.cols + j] >= options.strongThreshold) { partners.push(j); sims.push(m.values[i * m.cols + j]); }
      if (partners.length >= 2) splits.push({ from: t, feature: i, partners, similarities: sims });
    }
    for (let j = 0; j < m.cols; j++) {
      if (!alive[t + 1][j]) continue;
      const partners: number[] = [];
      const sims: number[] = [];
      for (let i = 0; i < m.rows; i++) if (alive[t][i] && m.values[i * m.cols + j] >= options.strongThreshold) { partners.push(i); sims.push(m.values[i * m.cols + j]); }
      if (partners.length >= 2) merges.push({ from: t, feature: j, partners, similarities: sims });
    }
  }

  // drift: optimal matching of each checkpoint to the final one, and each final-reaching chain's similarity to its own end
  let finalPartner: Int32Array[] | undefined;
  let finalSimilarity: Float32Array[] | undefined;
  if (input.toFinal) {
    finalPartner = [];
    finalSimilarity = [];
    for (let t = 0; t < T - 1; t++) {
      const m = input.toFinal[t];
      const match = memo.match(maskDead(m, alive[t], alive[T - 1]));
      const p = new Int32Array(m.rows).fill(-1);
      const s = new Float32Array(m.rows).fill(NaN);
      for (let i = 0; i < m.rows; i++) {
        const j = match.assignment[i];
        if (j < 0 || !alive[t][i] || !alive[T - 1][j]) continue;
        p[i] = j;
        s[i] = m.values[i * m.cols + j];
      }
      finalPartner.push(p);
      finalSimilarity.push(s);
    }
    const n = sizes[T - 1];
    finalPartner.push(Int32Array.from({ length: n }, (_, j) => (alive[T - 1][j] ? j : -1)));
    finalSimilarity.push(Float32Array.from({ length: n }, (_, j) => (alive[T - 1][j] ? 1 : NaN)));
    for (const c of chains) {
      if (c.end !== T - 1) continue;
      const last = c.features[c.features.length - 1];
      c.drift = c.features.map((f, k) => {
        const t = c.start + k;
        return t === T - 1 ? 1 : input.toFinal![t].values[f * sizes[T - 1] + last];
      });
    }
  }

  const events: StepEvents[] = input.steps.map((step, t) => {
    const live: number[] = [];
    for (let i = 0; i < sizes[t]; i++) if (alive[t][i]) live.push(i);
    const births = t === 0 ? 0 : live.filter((i) => incoming[t][i] < 0).length;
    const deaths = t === T - 1 ? 0 : live.filter((i) => !(nextPartner[t][i] >= 0 && nextSimilarity[t][i] >= options.matchThreshold)).length;
    return {
      step,
      alive: live.length,
      births,
      deaths,
      splits: splits.filter((s) => s.from === t).length,
      merges: merges.filter((s) => s.from === t - 1).length,
      meanSimilarityToFinal: finalSimilarity ? mean(live.map((i) => finalSimilarity![t][i]).filter((v) => !Number.isNaN(v))) : t === T - 1 ? 1 : NaN,
      meanSimilarityToNext: t === T - 1 ? NaN : mean(live.map((i) => nextSimilarity[t][i]).filter((v) => !Number.isNaN(v))),
    };
  });
  return { steps: input.steps.slice(), chains, chainOf, nextPartner, nextSimilarity, finalPartner, finalSimilarity, splits, merges, events, options };
}

/** A copy of m with rows / columns of dead features set to -2 (below any cosine), so the assignment pairs live features first. */
function maskDead(m: DenseMatrix, aliveRows: Uint8Array, aliveCols: Uint8Array): DenseMatrix {
  if (aliveRows.every((a) => a) && aliveCols.every((a) => a)) return m;
  const values = m.values.slice();
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) if (!aliveRows[i] || !aliveCols[j]) values[i * m.cols + j] = -2;
  return { values, rows: m.rows, cols: m.cols };
}
