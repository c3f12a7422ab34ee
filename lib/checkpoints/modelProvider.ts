/**
 * Checkpoint data from a model's training checkpoints (hub revisions such as Pythia's `step{N}` or the
 * demo's `step75`): the same token windows for every checkpoint, activations at the sweep's hook, and
 * clean / SAE-spliced / zero-ablated CE on the held-out windows.
 */
import * as tf from '@tensorflow/tfjs';
import { parseBlockHook } from '../model/hookNames';
import { HookedTransformer } from '../model/hookedTransformer';
import { TokenWindowSampler } from '../lm/batches';
import { CeAccumulator } from '../analysis/saeMetrics';
import { SAE } from '../sae/sae';
import { CheckpointData, CheckpointDataProvider, SweepCheckpoint, SweepSpec } from './sweep';
import { InMemorySource } from '../train/sources';

export interface ModelSweepData {
  /** hub name or local folder of the model; checkpoints are its revisions */
  model: string;
  /** how to load a checkpoint (default: HookedTransformer.fromPretrained(model, {revision: c.revision ?? c.label})) */
  loadModel?: (c: SweepCheckpoint) => Promise<HookedTransformer>;
  /** token streams the context windows are drawn from */
  trainTokens: Int32Array;
  evalTokens: Int32Array;
  contextSize: number;
  /** sequences per forward pass */
  batchSize: number;
  bosTokenId: number;
  /** seed of the window sampler (the same windows for every checkpoint) */
  seed: number;
  /** batches of windows for training activations and for evaluation */
  trainBatches: number;
  evalBatches: number;
  /** compute CE losses for the CE loss score (default true) */
  ce?: boolean;
}


/** Token windows [batchSize, contextSize] drawn by a seeded sampler, as int32 arrays. */
export function sampleWindows(stream: Int32Array, contextSize: number, batchSize: number, bos: number, seed: number, batches: number): Int32Array[] {
  const s = new TokenWindowSampler(stream, contextSize, batchSize, bos, seed);
  return Array.from({ length: batches }, () => s.next());
}

/** Activations at `hook` for each batch of windows, concatenated as [tokens, d] (row-major). */
export function collectHookActivations(model: HookedTransformer, hook: string, windows: Int32Array[], batchSize: number, contextSize: number): Float32Array {
  const layer = parseBlockHook(hook)?.layer;
  const parts: Float32Array[] = [];
  for (const w of windows) {
    const tokens = tf.tensor2d(w, [batchSize, contextSize], 'int32');
    const { cache } = model.runWithCache(tokens, { namesFilter: [hook], returnType: 'none', ...(layer !== undefined ? { stopAtLayer: layer + 1 } : {}) });
    const a = cache.get(hook);
    parts.push(a.dataSync() as Float32Array);
    cache.dispose();
    tokens.dispose();
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Clean, SAE-spliced (every position) and zero-ablated next-token CE over the windows. */
export function spliceCe(model: HookedTransformer, sae: SAE, hook: string, windows: Int32Array[], batchSize: number, contextSize: number) {
  const acc = new CeAccumulator();
  windows.forEach((w, b) => {
    const tokens = tf.tensor2d(w, [batchSize, contextSize], 'int32');
    const clean = model.forward(tokens, { returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
    const spliced = model.forward(tokens, { fwdHooks: [[hook, (a) => sae.forward(a)]], returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
    const zero = model.forward(tokens, { fwdHooks: [[hook, (a) => tf.zerosLike(a)]], returnType: 'loss', lossPerToken: true }).loss as tf.Tensor;
    acc.addTokenLosses(clean, spliced, zero, b);
    tf.dispose([tokens, clean, spliced, zero]);
  });
  return acc.summary();
}

/**
 * A sweep data provider over a model's checkpoints: loads checkpoint c, draws the same training and
 * evaluation windows for every checkpoint (fixed seeds), caches activations at the sweep's hook, and
 * computes CE with the trained SAE spliced in. The model is released when the job ends.
 */
export function modelCheckpointProvider(d: ModelSweepData): CheckpointDataProvider {
  return async (c: SweepCheckpoint, spec: SweepSpec): Promise<CheckpointData> => {
    const model = d.loadModel ? await d.loadModel(c) : await HookedTransformer.fromPretrained(d.model, { revision: c.revision ?? c.label });
    const trainWindows = sampleWindows(d.trainTokens, d.contextSize, d.batchSize, d.bosTokenId, d.seed, d.trainBatches);
    const evalWindows = sampleWindows(d.evalTokens, d.contextSize, d.batchSize, d.bosTokenId, d.seed + 1, d.evalBatches);
    const train = collectHookActivations(model, spec.hook, trainWindows, d.batchSize, d.contextSize);
    const evalActs = collectHookActivations(model, spec.hook, evalWindows, d.batchSize, d.contextSize);
    const dIn = train.length / (d.trainBatches * d.batchSize * d.contextSize);
    return {
      train: new InMemorySource(train, dIn, { chunkTokens: 8192, loop: true }),
      eval: evalActs,
      ce: d.ce === false ? undefined : (sae: SAE) => spliceCe(model, sae, spec.hook, evalWindows, d.batchSize, d.contextSize),
      dispose: () => model.dispose(),
    };
  };
}
