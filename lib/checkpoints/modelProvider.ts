/**
 * Checkpoint data from a model's training checkpoints (hub revisions such as Pythia's `step{N}` or the
 * demo's `step75`): the same token windows for every checkpoint, activations at the sweep's hook, and
 * clean / SAE-spliced / zero-ablated CE on the held-out windows.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parseBlockHook } from '../model/hookNames';
import { HookedTransformer } from '../model/hookedTransformer';
import { TokenWindowSampler } from '../lm/batches';
import { CeAccumulator } from '../analysis/saeMetrics';
import { SAE } from '../sae/sae';
import { CheckpointData, CheckpointDataProvider, SweepCheckpoint, SweepSpec } from './sweep';
import { ActivationSource, InMemorySource, SafetensorsActivationSource } from '../train/sources';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { Progress } from '../notebook/progress';
import { processAlive } from '../io/folders';

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
  /**
   * Training activations above this many bytes are written to a scratch safetensors file and streamed
   * from disk in the same order (default 1 GiB; the published Pythia preset's 8.4M tokens x 512 are 17 GB).
   */
  spillBytes?: number;
  /** folder for that scratch file, removed when the job ends (default: the OS temp folder) */
  scratchDir?: string;
  /** progress bars for the activation passes (default false) */
  progress?: boolean;
}

/** The default of ModelSweepData.spillBytes. */
export const DEFAULT_SPILL_BYTES = 2 ** 30;

/** The block index of a `blocks.L.` hook (to stop the forward pass early), or undefined. */
function hookLayer(hook: string): number | undefined {
  return parseBlockHook(hook)?.layer;
}

/** Token windows [batchSize, contextSize] drawn by a seeded sampler, as int32 arrays. */
export function sampleWindows(stream: Int32Array, contextSize: number, batchSize: number, bos: number, seed: number, batches: number): Int32Array[] {
  const s = new TokenWindowSampler(stream, contextSize, batchSize, bos, seed);
  return Array.from({ length: batches }, () => s.next());
}

/** Runs the model on each batch of windows and hands the activations at `hook` [batch * pos * d] to `take`; `label` names a progress bar. */
function forEachHookBatch(model: HookedTransformer, hook: string, windows: Int32Array[], batchSize: number, contextSize: number, take: (a: Float32Array) => void, label?: string): void {
  const layer = hookLayer(hook);
  const progress = label ? new Progress(label, windows.length) : null;
  for (const w of windows) {
    const tokens = tf.tensor2d(w, [batchSize, contextSize], 'int32');
    const { cache } = model.runWithCache(tokens, { namesFilter: [hook], returnType: 'none', ...(layer !== undefined ? { stopAtLayer: layer + 1 } : {}) });
    const a = cache.get(hook);
    take(a.dataSync() as Float32Array);
    cache.dispose();
    tokens.dispose();
    progress?.tick();
  }
  progress?.done();
}

/** Activations at `hook` for each batch of windows, concatenated as [tokens, d] (row-major). */
export function collectHookActivations(model: HookedTransformer, hook: string, windows: Int32Array[], batchSize: number, contextSize: number, label?: string): Float32Array {
  let out: Float32Array | null = null;
  let off = 0;
  forEachHookBatch(model, hook, windows, batchSize, contextSize, (a) => {
    out ??= new Float32Array(a.length * windows.length);
    out.set(a, off);
    off += a.length;
  }, label);
  return out ?? new Float32Array(0);
}

/**
 * The same activations as collectHookActivations, written batch by batch to `file` (tensor `activations`,
 * F32 [tokens, d]) so they never sit in memory whole; returns d.
 */
export function writeHookActivations(model: HookedTransformer, hook: string, windows: Int32Array[], batchSize: number, contextSize: number, file: string, label?: string): number {
  let writer: SafetensorsStreamWriter | null = null;
  let d = 0;
  const rows = windows.length * batchSize * contextSize;
  try {
    forEachHookBatch(model, hook, windows, batchSize, contextSize, (a) => {
      if (!writer) {
        d = a.length / (batchSize * contextSize);
        writer = new SafetensorsStreamWriter(file, [{ name: 'activations', dtype: 'F32', shape: [rows, d] }], { hook });
      }
      writer.append(a);
    }, label);
    (writer as SafetensorsStreamWriter | null)?.close();
  } catch (e) {
    (writer as SafetensorsStreamWriter | null)?.abort();
    throw e;
  }
  return d;
}

/** Scratch folders of training activations: `saelab-train-acts_<host>_<pid>_<label>-XXXXXX`. */
const SCRATCH_PREFIX = 'saelab-train-acts_';
const SCRATCH_NAME = /^saelab-train-acts_([^_]+)_(\d+)_/;

/**
 * Remove the scratch folders of training activations that killed jobs of this machine left in `dir` (their
 * process no longer runs; a job killed at a time limit leaves up to 17 GB at the published size). Folders of
 * live processes and of other machines sharing `dir` are kept. Returns the removed paths.
 */
export function removeStaleScratch(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = SCRATCH_NAME.exec(name);
    if (!m || m[1] !== os.hostname() || processAlive(Number(m[2]))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(path.join(dir, name));
  }
  return removed;
}

/**
 * The training source of one checkpoint: rows in memory, or (above `spillBytes`) in a scratch file
 * streamed in the same order and chunks; `cleanup` removes the file.
 */
function trainingSource(model: HookedTransformer, d: ModelSweepData, c: SweepCheckpoint, hook: string, windows: Int32Array[]): { source: ActivationSource; cleanup: () => void } {
  const chunk = { chunkTokens: 8192, loop: true };
  const rows = windows.length * d.batchSize * d.contextSize;
  const width = hookWidth(model, hook);
  if (rows * width * 4 <= (d.spillBytes ?? DEFAULT_SPILL_BYTES)) {
    const train = collectHookActivations(model, hook, windows, d.batchSize, d.contextSize, d.progress ? `${c.label}: training activations` : undefined);
    return { source: new InMemorySource(train, train.length / rows, chunk), cleanup: () => undefined };
  }
  const scratch = d.scratchDir ?? os.tmpdir();
  removeStaleScratch(scratch);
  const dir = fs.mkdtempSync(path.join(scratch, `${SCRATCH_PREFIX}${os.hostname()}_${process.pid}_${c.label.replace(/[^\w.-]/g, '_')}-`));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const file = path.join(dir, 'activations.safetensors');
    writeHookActivations(model, hook, windows, d.batchSize, d.contextSize, file, d.progress ? `${c.label}: training activations (to ${file})` : undefined);
    return { source: new SafetensorsActivationSource([file], 'activations', chunk), cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** Width of the activations at `hook` (d_model for residual hooks, d_mlp for MLP ones, ...), from one token. */
function hookWidth(model: HookedTransformer, hook: string): number {
  const layer = hookLayer(hook);
  return tf.tidy(() => {
    const { cache } = model.runWithCache(tf.zeros([1, 1], 'int32') as tf.Tensor2D, { namesFilter: [hook], returnType: 'none', ...(layer !== undefined ? { stopAtLayer: layer + 1 } : {}) });
    const w = cache.get(hook).shape.slice(2).reduce((a, b) => a * b, 1);
    cache.dispose();
    return w;
  });
}

/**
 * The block a forward pass can resume at with the value of `hook` as its residual input: blocks.L.hook_resid_pre
 * -> L, blocks.L.hook_resid_post -> L + 1; undefined for other hooks (the value is not the whole residual).
 */
export function resumeLayerFor(hook: string): number | undefined {
  const p = parseBlockHook(hook);
  if (p?.point === 'hook_resid_pre') return p.layer;
  if (p?.point === 'hook_resid_post') return p.layer + 1;
  return undefined;
}

/**
 * Clean, SAE-spliced (every position) and zero-ablated next-token CE over the windows. For residual-stream
 * hooks the spliced and zero-ablated passes resume from the clean pass's value at the hook (the blocks
 * before it are not run again: the same numbers as hooking a full pass, in fewer layers).
 */
export function spliceCe(model: HookedTransformer, sae: SAE, hook: string, windows: Int32Array[], batchSize: number, contextSize: number, label?: string) {
  const acc = new CeAccumulator();
  const progress = label ? new Progress(label, windows.length) : null;
  const resumeAt = resumeLayerFor(hook);
  const loss = { returnType: 'loss', lossPerToken: true } as const;
  windows.forEach((w, b) => {
    const tokens = tf.tensor2d(w, [batchSize, contextSize], 'int32');
    let losses: tf.Tensor[];
    if (resumeAt === undefined) {
      losses = [
        model.forward(tokens, loss).loss as tf.Tensor,
        model.forward(tokens, { fwdHooks: [[hook, (a) => sae.forward(a)]], ...loss }).loss as tf.Tensor,
        model.forward(tokens, { fwdHooks: [[hook, (a) => tf.zerosLike(a)]], ...loss }).loss as tf.Tensor,
      ];
    } else {
      const { loss: clean, cache } = model.runWithCache(tokens, { namesFilter: [hook], ...loss });
      const a = cache.get(hook);
      const spliced = tf.tidy(() => model.forward(tokens, { startAtLayer: resumeAt, residual: sae.forward(a), ...loss }).loss as tf.Tensor);
      const zero = tf.tidy(() => model.forward(tokens, { startAtLayer: resumeAt, residual: tf.zerosLike(a), ...loss }).loss as tf.Tensor);
      cache.dispose();
      losses = [clean as tf.Tensor, spliced, zero];
    }
    acc.addTokenLosses(losses[0], losses[1], losses[2], b);
    tf.dispose([tokens, ...losses]);
    progress?.tick();
  });
  progress?.done();
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
    const { source, cleanup } = trainingSource(model, d, c, spec.hook, trainWindows);
    const evalActs = collectHookActivations(model, spec.hook, evalWindows, d.batchSize, d.contextSize, d.progress ? `${c.label}: held-out activations` : undefined);
    return {
      train: source,
      eval: evalActs,
      ce: d.ce === false ? undefined : (sae: SAE) => spliceCe(model, sae, spec.hook, evalWindows, d.batchSize, d.contextSize, d.progress ? `${c.label}: CE with the SAE spliced in` : undefined),
      dispose: () => {
        model.dispose();
        cleanup();
      },
    };
  };
}
