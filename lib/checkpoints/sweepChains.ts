/** Glue: similarity matrices between a sweep's checkpoints (decoder or activation cosine) -> chain analysis input. */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SweepSpec, SweepJobSummary, sweepJobDir, loadSweepSAE, readJobSummary, EVAL_FEATURE_ACTS } from './sweep';
import { DenseMatrix } from './assignment';
import { decoderCosine, activationCosine } from './similarity';
import { readRowsTensor } from './featureActs';
import { ChainInput } from './chains';
import { MatchMethod } from './match';

/**
 * Similarity between checkpoint i and j of a finished sweep: decoder cosine, or activation cosine of the
 * SAEs' feature activations on the sweep's shared held-out tokens.
 */
export async function sweepSimilarity(sweepDir: string, spec: SweepSpec, i: number, j: number, method: MatchMethod): Promise<DenseMatrix> {
  const [ci, cj] = [spec.checkpoints[i], spec.checkpoints[j]];
  if (!ci || !cj) throw new Error(`sweepSimilarity: checkpoints ${i}, ${j} out of range (${spec.checkpoints.length})`);
  if (method === 'decoder') {
    const a = await loadSweepSAE(sweepDir, spec, ci);
    const b = await loadSweepSAE(sweepDir, spec, cj);
    try {
      return decoderCosine(a, b);
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  for (const c of [ci, cj]) if (!readJobSummary(sweepDir, spec, c)) throw new Error(`sweep: checkpoint ${c.label} has not finished in ${sweepDir}`);
  const fa = readRowsTensor(path.join(sweepJobDir(sweepDir, ci), EVAL_FEATURE_ACTS), 'feature_acts');
  const fb = readRowsTensor(path.join(sweepJobDir(sweepDir, cj), EVAL_FEATURE_ACTS), 'feature_acts');
  try {
    if (fa.shape[0] !== fb.shape[0]) throw new Error(`sweep: ${ci.label} and ${cj.label} were evaluated on different numbers of tokens (${fa.shape[0]} vs ${fb.shape[0]})`);
    return activationCosine(fa, fb);
  } finally {
    tf.dispose([fa, fb]);
  }
}

/** Live features of a finished job: those that fired on the held-out tokens. */
export function sweepAliveMask(sweepDir: string, c: SweepSpec['checkpoints'][number]): Uint8Array {
  const f = readRowsTensor(path.join(sweepJobDir(sweepDir, c), EVAL_FEATURE_ACTS), 'feature_acts');
  try {
    return Uint8Array.from(tf.tidy(() => tf.cast(tf.greater(tf.max(f, 0), 0), 'int32').dataSync()));
  } finally {
    f.dispose();
  }
}

/** ChainInput of a finished sweep: consecutive and to-final similarities by `method`, live masks, steps. */
export async function sweepChainInput(sweepDir: string, spec: SweepSpec, method: MatchMethod): Promise<ChainInput & { summaries: SweepJobSummary[] }> {
  const T = spec.checkpoints.length;
  const summaries = spec.checkpoints.map((c) => {
    const s = readJobSummary(sweepDir, spec, c);
    if (!s) throw new Error(`sweep: checkpoint ${c.label} has not finished in ${sweepDir}; run the sweep first`);
    return s;
  });
  const consecutive: DenseMatrix[] = [];
  const toFinal: DenseMatrix[] = [];
  for (let t = 0; t < T - 1; t++) {
    consecutive.push(await sweepSimilarity(sweepDir, spec, t, t + 1, method));
    toFinal.push(t === T - 2 ? consecutive[t] : await sweepSimilarity(sweepDir, spec, t, T - 1, method));
  }
  return { steps: spec.checkpoints.map((c) => c.step), consecutive, toFinal, alive: spec.checkpoints.map((c) => sweepAliveMask(sweepDir, c)), summaries };
}
