/**
 * Feature matching between two SAEs: a similarity matrix (decoder or activation cosine) and its optimal
 * one-to-one assignment, with unmatched features listed when the sizes differ; saved as safetensors.
 */
import * as fs from 'fs';
import { DenseMatrix, maxSimilarityAssignment } from './assignment';
import { loadSafetensors, rawToInt32, rawToFloat32, writeSafetensors } from '../io/safetensors';

export type MatchMethod = 'decoder' | 'activation';

export interface FeatureMatching {
  method: MatchMethod | string;
  dA: number;
  dB: number;
  /** partner in B of each A feature [d_sae_a]; -1 when unmatched (d_sae_a > d_sae_b) */
  assignment: Int32Array;
  /** the matched pair's similarity [d_sae_a]; NaN when unmatched */
  similarity: Float32Array;
  /** A features with no partner (d_sae_a > d_sae_b), ascending */
  unmatchedA: number[];
  /** B features with no partner (d_sae_b > d_sae_a), ascending */
  unmatchedB: number[];
  /** mean similarity over matched pairs */
  meanSimilarity: number;
  /** best similarity of each A feature to any B feature [d_sae_a] (an upper bound on similarity) */
  bestSimilarity: Float32Array;
}

/** The optimal one-to-one matching of a similarity matrix [d_sae_a, d_sae_b]. */
export function matchBySimilarity(sim: DenseMatrix, method: MatchMethod | string = 'decoder'): FeatureMatching {
  const { rowToCol, colToRow, total } = maxSimilarityAssignment(sim);
  const similarity = new Float32Array(sim.rows).fill(NaN);
  const bestSimilarity = new Float32Array(sim.rows).fill(NaN);
  for (let r = 0; r < sim.rows; r++) {
    if (rowToCol[r] >= 0) similarity[r] = sim.values[r * sim.cols + rowToCol[r]];
    let best = -Infinity;
    for (let c = 0; c < sim.cols; c++) best = Math.max(best, sim.values[r * sim.cols + c]);
    if (sim.cols > 0) bestSimilarity[r] = best;
  }
  const unmatchedA: number[] = [];
  const unmatchedB: number[] = [];
  rowToCol.forEach((c, r) => c < 0 && unmatchedA.push(r));
  colToRow.forEach((r, c) => r < 0 && unmatchedB.push(c));
  const matched = Math.min(sim.rows, sim.cols);
  return { method, dA: sim.rows, dB: sim.cols, assignment: rowToCol, similarity, unmatchedA, unmatchedB, meanSimilarity: matched ? total / matched : NaN, bestSimilarity };
}

/**
 * Matchings by the similarity matrix object they were computed from, so one matrix is never assigned twice
 * (an 8,192 x 8,192 assignment takes minutes): the chain analysis and the saved matchings of stage 11 share one.
 * The matrices must not change after they were matched.
 */
export class MatchingMemo {
  private readonly done = new Map<DenseMatrix, FeatureMatching>();
  /** assignments computed (not reused) so far */
  computed = 0;

  /** matchBySimilarity(sim, method), computed once per matrix object. */
  match(sim: DenseMatrix, method: MatchMethod | string = 'decoder'): FeatureMatching {
    let m = this.done.get(sim);
    if (!m) {
      m = matchBySimilarity(sim, method);
      this.computed++;
      this.done.set(sim, m);
    }
    return m.method === method ? m : { ...m, method };
  }
}

/**
 * Write a matching: `assignment` int32 [d_sae_a], `similarity` float32 [d_sae_a], `unmatched_b` int32
 * [k] (B features without partner), metadata {method, d_sae_a, d_sae_b, mean_similarity, ...extra}.
 */
export function saveMatching(file: string, m: FeatureMatching, extra: Record<string, string> = {}): void {
  writeSafetensors(file, {
    assignment: { dtype: 'I32', shape: [m.dA], data: m.assignment },
    similarity: { dtype: 'F32', shape: [m.dA], data: m.similarity },
    unmatched_b: { dtype: 'I32', shape: [m.unmatchedB.length], data: Int32Array.from(m.unmatchedB) },
  }, { method: String(m.method), d_sae_a: String(m.dA), d_sae_b: String(m.dB), mean_similarity: String(m.meanSimilarity), ...extra });
}

/** Read a file written by saveMatching (assignment, similarity, metadata). */
export function loadMatching(file: string): { assignment: Int32Array; similarity: Float32Array; unmatchedB: Int32Array; metadata: Record<string, string> } {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such matching file`);
  const { tensors, metadata } = loadSafetensors(file);
  for (const n of ['assignment', 'similarity']) if (!tensors[n]) throw new Error(`${file}: missing tensor '${n}' (not a match-features output?)`);
  return {
    assignment: rawToInt32(tensors.assignment, `${file}:assignment`),
    similarity: rawToFloat32(tensors.similarity),
    unmatchedB: tensors.unmatched_b ? rawToInt32(tensors.unmatched_b, `${file}:unmatched_b`) : new Int32Array(0),
    metadata,
  };
}
