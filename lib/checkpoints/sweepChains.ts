/** Glue: similarity matrices between a sweep's checkpoints (decoder or activation cosine) -> chain analysis input. */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SweepSpec, SweepJobSummary, sweepJobDir, loadSweepSAE, readJobSummary, EVAL_FEATURE_ACTS } from './sweep';
import { DenseMatrix } from './assignment';
import { decoderCosine, ActivationCosineAccumulator } from './similarity';
import { forEachRowChunk } from './featureActs';
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
  // streamed 4,096 held-out tokens at a time (the same chunks as activationCosine): at the published size
  // each file is [262,144 x 8,192] float32, 8.6 GB
  const files = [ci, cj].map((c) => path.join(sweepJobDir(sweepDir, c), EVAL_FEATURE_ACTS));
  let acc: ActivationCosineAccumulator | null = null;
  try {
    await forEachRowChunk(files, 'feature_acts', 4096, ([a, b]) => {
      acc ??= new ActivationCosineAccumulator(a.shape[1], b.shape[1]);
      acc.add(a, b);
    }).catch((e: Error) => {
      throw new Error(`sweep: ${ci.label} and ${cj.label}: ${e.message}`);
    });
    if (!acc) throw new Error(`sweep: ${ci.label} has no held-out feature activations in ${files[0]}`);
    return (acc as ActivationCosineAccumulator).result();
  } finally {
    (acc as ActivationCosineAccumulator | null)?.dispose();
  }
}

/** Live features of a finished job: those that fired on the held-out tokens. */
export async function sweepAliveMask(sweepDir: string, c: SweepSpec['checkpoints'][number]): Promise<Uint8Array> {
  let alive: Uint8Array | null = null;
  await forEachRowChunk([path.join(sweepJobDir(sweepDir, c), EVAL_FEATURE_ACTS)], 'feature_acts', 4096, ([f]) => {
    const fired = tf.tidy(() => tf.greater(tf.max(f, 0), 0).dataSync());
    alive ??= new Uint8Array(fired.length);
    for (let i = 0; i < fired.length; i++) if (fired[i]) alive[i] = 1;
  });
  return alive ?? new Uint8Array(0);
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
  return { steps: spec.checkpoints.map((c) => c.step), consecutive, toFinal, alive: await Promise.all(spec.checkpoints.map((c) => sweepAliveMask(sweepDir, c))), summaries };
}
