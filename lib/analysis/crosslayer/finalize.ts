import { CrossLayerCollector } from './collector';
import {
  ACTIVATION_STATS, ActivationStat, STAT_CLAMP, activationCosine, binaryEntropy, jaccard, mutualInformation, pearson, storeValue,
} from './stats';

/** One statistic of one layer pair after the storage rule: nonzeros in row-major order. */
export interface SparseStat {
  /** [nnz * 2] interleaved (i, j) */
  indices: Int32Array;
  /** [nnz] */
  values: Float32Array;
}

/** Growable (i, j, value) list. */
export class SparseStatBuilder {
  private idx = new Int32Array(2048);
  private val = new Float32Array(1024);
  n = 0;
  push(i: number, j: number, v: number): void {
    if (this.n === this.val.length) {
      const idx = new Int32Array(this.idx.length * 2); idx.set(this.idx); this.idx = idx;
      const val = new Float32Array(this.val.length * 2); val.set(this.val); this.val = val;
    }
    this.idx[2 * this.n] = i;
    this.idx[2 * this.n + 1] = j;
    this.val[this.n++] = v;
  }
  build(): SparseStat {
    return { indices: this.idx.slice(0, 2 * this.n), values: this.val.slice(0, this.n) };
  }
}

/** Apply the storage rule (clamp 0.1) and keep the value when it survives. */
function pushStored(b: SparseStatBuilder, i: number, j: number, v: number): void {
  const st = storeValue(v, STAT_CLAMP);
  if (st !== 0) b.push(i, j, st);
}

/** Slack on the candidate bounds, wider than float32 rounding at the clamp (candidates are then evaluated exactly). */
const BOUND_SLACK = 1 - 1e-6;

/**
 * The stored activation statistics of layer pair (P, P+1), each equal to the seed's dense definition
 * after its storage rule. Co-active pairs come from the accumulators; pairs never both nonzero have
 * sum xy = 0 and c = 0, so only Pearson (= -mean_i mean_j / (sd_i sd_j)) and mutual information can be
 * nonzero for them: those are enumerated from per-feature moments by bounds (|rho| = a_i b_j with
 * a = |mean|/sd; MI <= min(H_i, H_j)) and evaluated with the same formulas.
 */
export function pairStatistics(col: CrossLayerCollector, P: number): Record<string, SparseStat> {
  if (P < 0 || P >= col.nPairs) throw new Error(`layer pair ${P} is out of range [0, ${col.nPairs})`);
  const { d_sae: d, relative } = col.cfg;
  const [r0, r1] = col.cfg.rows;
  if (relative) checkMaxActivations(col);
  const n = col.tokens;
  const mA = col.moments[P];
  const mB = col.moments[P + 1];
  const stats: ActivationStat[] = ACTIVATION_STATS.filter((s) => relative || !s.endsWith('_relative_activation'));
  const builders = stats.map(() => new SparseStatBuilder());
  const idxOf = (s: ActivationStat): number => stats.indexOf(s);
  const iPear = idxOf('pearson_correlation'), iCos = idxOf('activation_cosine_similarity'), iJac = idxOf('jaccard_similarity');
  const iSuf = idxOf('sufficiency'), iNec = idxOf('necessity'), iMI = idxOf('mutual_information');
  const iJacR = idxOf('jaccard_similarity_relative_activation'), iSufR = idxOf('sufficiency_relative_activation'), iNecR = idxOf('necessity_relative_activation');

  const bPear = builders[iPear], bCos = builders[iCos], bJac = builders[iJac], bSuf = builders[iSuf], bNec = builders[iNec], bMI = builders[iMI];
  const bJacR = relative ? builders[iJacR] : null, bSufR = relative ? builders[iSufR] : null, bNecR = relative ? builders[iNecR] : null;
  const emit = (i: number, j: number, c: number, cr: number, sxy: number): void => {
    const ni = mA.count[i], nj = mB.count[j];
    pushStored(bPear, i, j, pearson(n, mA.sumX[i], mA.sumXX[i], mB.sumX[j], mB.sumXX[j], sxy));
    pushStored(bCos, i, j, activationCosine(mA.sumXX[i], mB.sumXX[j], sxy));
    if (c > 0) {
      pushStored(bJac, i, j, jaccard(ni, nj, c));
      pushStored(bSuf, i, j, c / ni);
      pushStored(bNec, i, j, c / nj);
    }
    if (bJacR !== null && cr > 0) {
      const nri = mA.countRel[i], nrj = mB.countRel[j];
      pushStored(bJacR, i, j, jaccard(nri, nrj, cr));
      pushStored(bSufR!, i, j, cr / nri);
      pushStored(bNecR!, i, j, cr / nrj);
    }
    pushStored(bMI, i, j, mutualInformation(n, ni, nj, c));
  };

  // Never-co-active candidates: Pearson by a_i * b_j >= 0.1, MI by min(H_i, H_j) >= 0.1.
  const ratio = (sx: number, sxx: number): number => {
    const v = n * sxx - sx * sx;
    return v > 0 ? Math.abs(sx) / Math.sqrt(v) : 0;
  };
  const b = new Float64Array(d);
  for (let j = 0; j < d; j++) b[j] = ratio(mB.sumX[j], mB.sumXX[j]);
  const byB = Array.from({ length: d }, (_, j) => j).filter((j) => b[j] > 0).sort((x, y) => b[y] - b[x]);
  const bSorted = Float64Array.from(byB, (j) => b[j]);
  const byBIdx = Int32Array.from(byB);
  const miCols: number[] = [];
  for (let j = 0; j < d; j++) if (binaryEntropy(n, mB.count[j]) >= STAT_CLAMP * BOUND_SLACK) miCols.push(j);

  const cur = col.pairCursor(P);
  let has = cur.next();
  if (has && cur.i < r0) throw new Error(`layer pair ${P}: accumulator row ${cur.i} is outside the collector's rows [${r0}, ${r1})`);
  let rowJ = new Int32Array(1024), rowC = new Int32Array(1024), rowCR = new Int32Array(1024), rowS = new Float64Array(1024);
  for (let i = r0; i < r1; i++) {
    let m = 0;
    while (has && cur.i === i) {
      if (m === rowJ.length) {
        const g = (a: Int32Array): Int32Array => { const o = new Int32Array(a.length * 2); o.set(a); return o; };
        rowJ = g(rowJ); rowC = g(rowC); rowCR = g(rowCR);
        const s2 = new Float64Array(rowS.length * 2); s2.set(rowS); rowS = s2;
      }
      rowJ[m] = cur.j; rowC[m] = cur.count; rowCR[m] = cur.countRel; rowS[m] = cur.sumXY;
      m++;
      has = cur.next();
    }
    if (has && cur.i < i) throw new Error(`layer pair ${P}: accumulators are not in row-major order (row ${cur.i} after ${i})`);
    // candidate columns for this row
    let cand: Int32Array | null = null;
    const ai = ratio(mA.sumX[i], mA.sumXX[i]);
    if (ai > 0 && bSorted.length > 0) {
      const need = (STAT_CLAMP * BOUND_SLACK) / ai;
      let lo = 0, hi = bSorted.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (bSorted[mid] >= need) lo = mid + 1; else hi = mid; }
      if (lo > 0) cand = byBIdx.slice(0, lo);
    }
    if (miCols.length > 0 && binaryEntropy(n, mA.count[i]) >= STAT_CLAMP * BOUND_SLACK) {
      const mi = Int32Array.from(miCols);
      if (cand) { const u = new Int32Array(cand.length + mi.length); u.set(cand); u.set(mi, cand.length); cand = u; } else cand = mi;
    }
    if (cand) cand.sort();
    // merge accumulator row and candidates by column
    let p = 0, q = 0;
    const nc = cand ? cand.length : 0;
    while (p < m || q < nc) {
      const jp = p < m ? rowJ[p] : Infinity;
      const jq = q < nc ? cand![q] : Infinity;
      if (jp <= jq) {
        emit(i, jp, rowC[p], rowCR[p], rowS[p]);
        p++;
        while (q < nc && cand![q] === jp) q++;
      } else {
        emit(i, jq, 0, 0, 0);
        const j = jq;
        while (q < nc && cand![q] === j) q++;
      }
    }
  }
  cur.close();
  const out: Record<string, SparseStat> = {};
  stats.forEach((s, k) => { out[s] = builders[k].build(); });
  return out;
}

/** The given max activations must be the run's: a larger observed value means the relative bounds are wrong. */
function checkMaxActivations(col: CrossLayerCollector): void {
  const observed = col.maxActivations();
  for (let L = 0; L < col.cfg.n_layers; L++) {
    for (let f = 0; f < col.cfg.d_sae; f++) {
      if (observed[L][f] > col.givenMax![L][f]) {
        throw new Error(`layer ${L} feature ${f}: observed max activation ${observed[L][f]} exceeds the given max_activations value ${col.givenMax![L][f]}; pass the max over the same tokens (MaxActivationCollector first pass)`);
      }
    }
  }
}
