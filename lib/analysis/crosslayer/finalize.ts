import { CrossLayerCollector } from './collector';
import { ACTIVATION_STATS, ActivationStat, STAT_CLAMP, binaryEntropy, mutualInformation, storeValue } from './stats';

/** One statistic of one layer pair after the storage rule: nonzeros in row-major order. */
export interface SparseStat {
  /** [nnz * 2] interleaved (i, j) */
  indices: Int32Array;
  /** [nnz] */
  values: Float32Array;
}

/** Growable (i, j, value) list, kept in fixed-size chunks (no re-copying while it grows). */
export class SparseStatBuilder {
  private static readonly CHUNK = 1 << 18;
  private chunksIdx: Int32Array[] = [];
  private chunksVal: Float32Array[] = [];
  private idx = new Int32Array(2 * SparseStatBuilder.CHUNK);
  private val = new Float32Array(SparseStatBuilder.CHUNK);
  private k = 0;
  n = 0;
  push(i: number, j: number, v: number): void {
    if (this.k === SparseStatBuilder.CHUNK) {
      this.chunksIdx.push(this.idx);
      this.chunksVal.push(this.val);
      this.idx = new Int32Array(2 * SparseStatBuilder.CHUNK);
      this.val = new Float32Array(SparseStatBuilder.CHUNK);
      this.k = 0;
    }
    this.idx[2 * this.k] = i;
    this.idx[2 * this.k + 1] = j;
    this.val[this.k++] = v;
    this.n++;
  }
  build(): SparseStat {
    const indices = new Int32Array(2 * this.n);
    const values = new Float32Array(this.n);
    let o = 0;
    this.chunksIdx.forEach((c, q) => { indices.set(c, 2 * o); values.set(this.chunksVal[q], o); o += this.chunksVal[q].length; });
    indices.set(this.idx.subarray(0, 2 * this.k), 2 * o);
    values.set(this.val.subarray(0, this.k), o);
    return { indices, values };
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

  const MI_BOUND = STAT_CLAMP * BOUND_SLACK;
  const hA = Float64Array.from(mA.count, (k) => binaryEntropy(n, k));
  const hB = Float64Array.from(mB.count, (k) => binaryEntropy(n, k));
  const bPear = builders[iPear], bCos = builders[iCos], bJac = builders[iJac], bSuf = builders[iSuf], bNec = builders[iNec], bMI = builders[iMI];
  const bJacR = relative ? builders[iJacR] : null, bSufR = relative ? builders[iSufR] : null, bNecR = relative ? builders[iNecR] : null;
  // per-feature factors, so a pair costs a few multiplications: sqrt(n sxx - sx^2) and sqrt(sxx)
  const sdA = Float64Array.from(mA.sumX, (sx, i) => Math.sqrt(n * mA.sumXX[i] - sx * sx));
  const sdB = Float64Array.from(mB.sumX, (sy, j) => Math.sqrt(n * mB.sumXX[j] - sy * sy));
  const rtA = Float64Array.from(mA.sumXX, Math.sqrt), rtB = Float64Array.from(mB.sumXX, Math.sqrt);
  const CL = Math.fround(STAT_CLAMP);
  const emit = (i: number, j: number, c: number, cr: number, sxy: number): void => {
    // storage rule inline: f = fround(v); kept when |f| >= fround(0.1) (NaN fails both tests)
    let f = Math.fround((n * sxy - mA.sumX[i] * mB.sumX[j]) / (sdA[i] * sdB[j]));
    if (f >= CL || f <= -CL) bPear.push(i, j, f);
    f = Math.fround(sxy / (rtA[i] * rtB[j]));
    if (f >= CL || f <= -CL) bCos.push(i, j, f);
    if (c > 0) {
      const ni = mA.count[i], nj = mB.count[j];
      f = Math.fround(c / (ni + nj - c));
      if (f >= CL) bJac.push(i, j, f);
      f = Math.fround(c / ni);
      if (f >= CL) bSuf.push(i, j, f);
      f = Math.fround(c / nj);
      if (f >= CL) bNec.push(i, j, f);
    }
    if (bJacR !== null && cr > 0) {
      const nri = mA.countRel[i], nrj = mB.countRel[j];
      f = Math.fround(cr / (nri + nrj - cr));
      if (f >= CL) bJacR.push(i, j, f);
      f = Math.fround(cr / nri);
      if (f >= CL) bSufR!.push(i, j, f);
      f = Math.fround(cr / nrj);
      if (f >= CL) bNecR!.push(i, j, f);
    }
    // MI <= min(H_i, H_j): skip the four logs where the value cannot reach the clamp
    if (hA[i] >= MI_BOUND && hB[j] >= MI_BOUND) pushStored(bMI, i, j, mutualInformation(n, mA.count[i], mB.count[j], c));
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
  for (let j = 0; j < d; j++) if (hB[j] >= MI_BOUND) miCols.push(j);

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
    if (miCols.length > 0 && hA[i] >= MI_BOUND) {
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
