import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomic } from '../../io/atomic';
import { SafetensorsFile, TensorToWrite, loadSafetensors, rawToInt32, writeSafetensors } from '../../io/safetensors';
import { CrossLayerCollector } from './collector';
import { decoderCosinePairs } from './decoder';
import { SparseStat, pairStatistics } from './finalize';
import { writeNpz, npyFromArray, NpyMember } from '../../io/npz';
import { DECODER_STAT } from './stats';

/** `pair_<L>_<L+1>.safetensors` */
export function pairFileName(layer: number): string {
  return `pair_${layer}_${layer + 1}.safetensors`;
}

/** A stored statistic as a sparse matrix `[d_rows, d_cols]`, entries in row-major order. */
export class SparseMatrix {
  constructor(
    readonly shape: [number, number],
    /** [nnz] */ readonly rows: Int32Array,
    /** [nnz] */ readonly cols: Int32Array,
    /** [nnz] */ readonly values: Float32Array,
  ) {}

  get nnz(): number {
    return this.values.length;
  }

  /** Entries [start, end) of row i. */
  rowRange(i: number): [number, number] {
    const lower = (x: number): number => {
      let lo = 0, hi = this.rows.length;
      while (lo < hi) { const m = (lo + hi) >> 1; if (this.rows[m] < x) lo = m + 1; else hi = m; }
      return lo;
    };
    return [lower(i), lower(i + 1)];
  }

  /** Value at (i, j), 0 when not stored. */
  get(i: number, j: number): number {
    let [lo, hi] = this.rowRange(i);
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.cols[m] < j) lo = m + 1; else hi = m; }
    return lo < this.rowRange(i)[1] && this.cols[lo] === j ? this.values[lo] : 0;
  }

  /** Dense row-major copy `[d_rows * d_cols]` (small matrices only). */
  toDense(): Float32Array {
    const out = new Float32Array(this.shape[0] * this.shape[1]);
    for (let k = 0; k < this.nnz; k++) out[this.rows[k] * this.shape[1] + this.cols[k]] = this.values[k];
    return out;
  }

  /** Per-row max of the values (`-Infinity` for empty rows)  [d_rows]. */
  rowMax(): Float32Array {
    const out = new Float32Array(this.shape[0]).fill(-Infinity);
    for (let k = 0; k < this.nnz; k++) if (this.values[k] > out[this.rows[k]]) out[this.rows[k]] = this.values[k];
    return out;
  }

  /** As a tfjs sparse-to-dense-ready pair: indices `[nnz, 2]` int32 and values `[nnz]`. */
  toTensors(): { indices: tf.Tensor2D; values: tf.Tensor1D } {
    const idx = new Int32Array(2 * this.nnz);
    for (let k = 0; k < this.nnz; k++) { idx[2 * k] = this.rows[k]; idx[2 * k + 1] = this.cols[k]; }
    return { indices: tf.tensor2d(idx, [this.nnz, 2], 'int32'), values: tf.tensor1d(this.values) };
  }

  static fromStat(s: SparseStat, shape: [number, number]): SparseMatrix {
    const n = s.values.length;
    const rows = new Int32Array(n), cols = new Int32Array(n);
    for (let k = 0; k < n; k++) { rows[k] = s.indices[2 * k]; cols[k] = s.indices[2 * k + 1]; }
    return new SparseMatrix(shape, rows, cols, s.values);
  }
}

/** Write one layer pair's statistics: `<stat>.indices` int32 [nnz, 2] and `<stat>.values` float32 [nnz]. */
export function writePairFile(file: string, stats: Record<string, SparseStat>, meta: { layer: number; d_sae: number; tokens: number; rows: [number, number] }): void {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, s] of Object.entries(stats)) {
    tensors[`${name}.indices`] = { dtype: 'I32', shape: [s.values.length, 2], data: s.indices };
    tensors[`${name}.values`] = { dtype: 'F32', shape: [s.values.length], data: s.values };
  }
  writeSafetensors(file, tensors, {
    format: 'saelab-crosslayer-pair', layer: String(meta.layer), next_layer: String(meta.layer + 1), d_sae: String(meta.d_sae),
    tokens: String(meta.tokens), rows: `${meta.rows[0]}:${meta.rows[1]}`,
  });
}

/** Read one pair file: statistic name -> sparse matrix `[d_sae, d_sae]` (`only`: just these statistics). */
export function loadPairFile(file: string, only?: string[]): { layer: number; d_sae: number; tokens: number; stats: Record<string, SparseMatrix> } {
  const f = SafetensorsFile.open(file);
  try {
    const d = Number(f.metadata.d_sae);
    if (!Number.isInteger(d) || d <= 0) throw new Error(`${file}: metadata d_sae is ${JSON.stringify(f.metadata.d_sae)}; not a crosslayer pair file`);
    const stats: Record<string, SparseMatrix> = {};
    for (const name of f.names()) {
      if (!name.endsWith('.indices')) continue;
      const stat = name.slice(0, -'.indices'.length);
      if (only && !only.includes(stat)) continue;
      if (!f.has(`${stat}.values`)) throw new Error(`${file}: '${name}' has no matching '${stat}.values'`);
      const idx = rawToInt32(f.readRaw(name), `${file}:${name}`);
      const values = f.readFloat32(`${stat}.values`);
      if (idx.length !== 2 * values.length) throw new Error(`${file}: ${name} has ${idx.length / 2} rows but ${stat}.values has ${values.length}`);
      stats[stat] = SparseMatrix.fromStat({ indices: idx, values }, [d, d]);
    }
    return { layer: Number(f.metadata.layer), d_sae: d, tokens: Number(f.metadata.tokens), stats };
  } finally {
    f.close();
  }
}

/** Decoder weights per layer `[d_sae, d_model]`, or null when not available. */
export type DecoderList = Array<tf.Tensor2D | null> | null;

/** Summary of a written output folder (also saved as `summary.json`). */
export interface CrossLayerSummary {
  tokens: number;
  n_layers: number;
  d_sae: number;
  rows: [number, number];
  checkpoint_tokens: number;
  steps: number;
  peak_pairs_in_memory: number;
  spills: number;
  /** stored values per statistic per layer pair */
  nnz: Record<string, number[]>;
}

/**
 * Write every output of a collection to `outDir`: `pair_<L>_<L+1>.safetensors` (all statistics,
 * decoder cosine when both layers' W_dec are given), `max_activations.safetensors`,
 * `dead_features.safetensors` and `summary.json`. Each file is written atomically.
 */
export async function writeCrossLayerOutputs(outDir: string, col: CrossLayerCollector, decoders: DecoderList = null, onPair?: (layer: number) => void): Promise<CrossLayerSummary> {
  const { n_layers, d_sae } = col.cfg;
  if (decoders && decoders.length !== n_layers) throw new Error(`decoders: expected ${n_layers} entries (one per layer, null to skip), got ${decoders.length}`);
  fs.mkdirSync(outDir, { recursive: true });
  const nnz: Record<string, number[]> = {};
  for (let P = 0; P < n_layers - 1; P++) {
    const stats = pairStatistics(col, P);
    const wA = decoders?.[P], wB = decoders?.[P + 1];
    if (wA && wB) stats[DECODER_STAT] = await decoderCosinePairs(wA, wB, { rows: col.cfg.rows });
    writePairFile(path.join(outDir, pairFileName(P)), stats, { layer: P, d_sae, tokens: col.tokens, rows: col.cfg.rows });
    for (const [name, s] of Object.entries(stats)) (nnz[name] ??= new Array(n_layers - 1).fill(0))[P] = s.values.length;
    onPair?.(P);
  }
  const max = col.maxActivations();
  const flatMax = new Float32Array(n_layers * d_sae);
  max.forEach((m, L) => flatMax.set(m, L * d_sae));
  writeSafetensors(path.join(outDir, 'max_activations.safetensors'), { max_activations: { dtype: 'F32', shape: [n_layers, d_sae], data: flatMax } }, { tokens: String(col.tokens) });
  writeDeadFeatures(path.join(outDir, 'dead_features.safetensors'), col);
  const summary: CrossLayerSummary = {
    tokens: col.tokens, n_layers, d_sae, rows: col.cfg.rows, checkpoint_tokens: col.cfg.checkpoint_tokens, steps: col.stepTokens.length,
    peak_pairs_in_memory: col.peakPairsInMemory, spills: col.spills, nnz,
  };
  writeJsonAtomic(path.join(outDir, 'summary.json'), summary);
  return summary;
}

/** `dead_features` int64 [steps, 9, n_layers], `dead_feature_pairs` int64 [5, n_layers - 1, steps], thresholds, `tokens` [steps]. */
export function writeDeadFeatures(file: string, col: CrossLayerCollector): void {
  const steps = col.stepTokens.length;
  const { n_layers, feature_thresholds: ft, pair_thresholds: pt } = col.cfg;
  const i64 = (xs: number[]): BigInt64Array => BigInt64Array.from(xs, (v) => BigInt(v));
  writeSafetensors(file, {
    dead_features: { dtype: 'I64', shape: [steps, ft.length, n_layers], data: i64(col.deadFeatures.flat(2)) },
    dead_feature_pairs: { dtype: 'I64', shape: [pt.length, n_layers - 1, steps], data: i64(col.deadPairs.flat(2)) },
    feature_thresholds: { dtype: 'I64', shape: [ft.length], data: i64(ft) },
    pair_thresholds: { dtype: 'I64', shape: [pt.length], data: i64(pt) },
    tokens: { dtype: 'I64', shape: [steps], data: i64(col.stepTokens) },
  }, { d_sae: String(col.cfg.d_sae), rows: `${col.cfg.rows[0]}:${col.cfg.rows[1]}`, checkpoint_tokens: String(col.cfg.checkpoint_tokens) });
}

/** The dead-feature file as plain arrays (int64 values converted to numbers). */
export interface DeadFeatureSeries {
  /** [steps][feature thresholds][n_layers] */
  dead_features: number[][][];
  /** [pair thresholds][n_layers - 1][steps] */
  dead_feature_pairs: number[][][];
  feature_thresholds: number[];
  pair_thresholds: number[];
  /** tokens at each step */
  tokens: number[];
  d_sae: number;
  /** rows of layer L counted in the pair series */
  rows: [number, number];
}

export function loadDeadFeatures(file: string): DeadFeatureSeries {
  const { tensors, metadata } = loadSafetensors(file);
  const get = (name: string): { shape: number[]; data: number[] } => {
    const t = tensors[name];
    if (!t) throw new Error(`${file}: missing tensor '${name}'`);
    if (t.dtype !== 'I64') throw new Error(`${file}: '${name}' is ${t.dtype}, expected I64`);
    return { shape: t.shape, data: Array.from(t.data as BigInt64Array, Number) };
  };
  const reshape3 = (x: { shape: number[]; data: number[] }): number[][][] => {
    const [a, b, c] = x.shape;
    return Array.from({ length: a }, (_, i) => Array.from({ length: b }, (_, j) => x.data.slice((i * b + j) * c, (i * b + j + 1) * c)));
  };
  const [r0, r1] = (metadata.rows ?? '').split(':').map(Number);
  return {
    dead_features: reshape3(get('dead_features')), dead_feature_pairs: reshape3(get('dead_feature_pairs')),
    feature_thresholds: get('feature_thresholds').data, pair_thresholds: get('pair_thresholds').data, tokens: get('tokens').data,
    d_sae: Number(metadata.d_sae), rows: [r0, r1],
  };
}

/**
 * Dead pairs expected from single dead features alone: d*d - (d - dead_L)(d - dead_L+1), per step and
 * layer pair `[steps][n_layers - 1]`, using the dead-feature counts at feature threshold index `k`.
 */
export function expectedDeadPairs(deadFeatures: number[][][], d_sae: number, k = 0): number[][] {
  return deadFeatures.map((step) => step[k].slice(0, -1).map((deadL, L) => d_sae * d_sae - (d_sae - deadL) * (d_sae - step[k][L + 1])));
}

/** Everything `writeCrossLayerOutputs` wrote, loaded. */
export function loadCrossLayerOutputs(dir: string): { pairs: Array<Record<string, SparseMatrix>>; max_activations: Float32Array[]; dead: DeadFeatureSeries; summary: CrossLayerSummary } {
  const summaryFile = path.join(dir, 'summary.json');
  if (!fs.existsSync(summaryFile)) throw new Error(`${dir}: no summary.json; not a crosslayer output folder (saelab crosslayer --out)`);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as CrossLayerSummary;
  const pairs: Array<Record<string, SparseMatrix>> = [];
  for (let P = 0; P < summary.n_layers - 1; P++) pairs.push(loadPairFile(path.join(dir, pairFileName(P))).stats);
  const mf = SafetensorsFile.open(path.join(dir, 'max_activations.safetensors'));
  let flatMax: Float32Array;
  try { flatMax = mf.readFloat32('max_activations'); } finally { mf.close(); }
  const max = Array.from({ length: summary.n_layers }, (_, L) => flatMax.slice(L * summary.d_sae, (L + 1) * summary.d_sae));
  return { pairs, max_activations: max, dead: loadDeadFeatures(path.join(dir, 'dead_features.safetensors')), summary };
}

/**
 * Convert an output folder to the seed's dense files: `<npzDir>/<stat>.npz` holding `arr_0` float32
 * `[n_layers - 1, d_sae, d_sae]` per statistic, `dead_features.npz` (int64 [steps, 9, n_layers]) and
 * `dead_feature_pairs.npz` (int64 [5, n_layers - 1, steps]). Rows are densified block by block, so the
 * 26 GB seed-sized files stream through bounded memory.
 */
export function convertToSeedNpz(dir: string, npzDir: string, options: { stats?: string[]; block_rows?: number } = {}): string[] {
  const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) as CrossLayerSummary;
  const d = summary.d_sae;
  const nP = summary.n_layers - 1;
  const names = options.stats ?? Object.keys(summary.nnz);
  const block = options.block_rows ?? 256;
  const written: string[] = [];
  for (const stat of names) {
    const member: NpyMember = {
      name: 'arr_0', descr: '<f4', shape: [nP, d, d],
      write: (emit) => {
        for (let P = 0; P < nP; P++) {
          const m = loadPairFile(path.join(dir, pairFileName(P)), [stat]).stats[stat];
          if (!m) throw new Error(`${path.join(dir, pairFileName(P))}: no statistic '${stat}'`);
          let k = 0;
          for (let r = 0; r < d; r += block) {
            const e = Math.min(d, r + block);
            const buf = new Float32Array((e - r) * d);
            while (k < m.nnz && m.rows[k] < e) { buf[(m.rows[k] - r) * d + m.cols[k]] = m.values[k]; k++; }
            emit(new Uint8Array(buf.buffer));
          }
        }
      },
    };
    const file = path.join(npzDir, `${stat}.npz`);
    writeNpz(file, [member]);
    written.push(file);
  }
  const dead = loadDeadFeatures(path.join(dir, 'dead_features.safetensors'));
  const steps = dead.tokens.length;
  const i64 = (xs: number[]): BigInt64Array => BigInt64Array.from(xs, (v) => BigInt(v));
  const df = path.join(npzDir, 'dead_features.npz');
  writeNpz(df, [npyFromArray('arr_0', [steps, dead.feature_thresholds.length, summary.n_layers], i64(dead.dead_features.flat(2)))]);
  const dp = path.join(npzDir, 'dead_feature_pairs.npz');
  writeNpz(dp, [npyFromArray('arr_0', [dead.pair_thresholds.length, nP, steps], i64(dead.dead_feature_pairs.flat(2)))]);
  written.push(df, dp);
  return written;
}
