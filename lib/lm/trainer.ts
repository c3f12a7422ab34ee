import * as tf from '@tensorflow/tfjs';
import { Adam } from '../optim/adam';
import { clipFactor, globalGradNorm } from '../optim/clip';
import { ProgressReporter, NO_PROGRESS } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';

/** What the LM trainer needs of a model: named trainable variables and a differentiable loss. */
export interface TrainableLM {
  readonly params: Map<string, tf.Variable>;
  /** mean next-token cross-entropy of a batch of token ids [batch, pos] */
  lossOf(tokens: tf.Tensor2D): tf.Scalar;
}

export interface LmTrainOptions {
  steps: number;
  lr: number;
  warmupSteps: number;
  /** final lr as a fraction of lr (cosine decay) */
  minLrFactor?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  clipNorm?: number | null;
  /** steps after which onCheckpoint is called (e.g. [0, 250, 500, 1000]); 0 = before training */
  checkpointSteps?: number[];
  onCheckpoint?: (step: number) => Promise<void> | void;
  /** record the loss every n steps */
  logEvery?: number;
  progress?: ProgressReporter;
}

export interface LmTrainResult {
  losses: Array<{ step: number; loss: number; lr: number }>;
}

/** Learning rate at `step` (1-based): linear warm-up, then cosine decay to minFactor x lr. */
export function cosineWithWarmup(step: number, total: number, lr: number, warmup: number, minFactor = 0.1): number {
  if (warmup > 0 && step <= warmup) return (lr * step) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return lr * (minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** Parameters that get weight decay: matrices (W_*), not biases or norm weights. */
export function decays(name: string): boolean {
  return /(^|\.)W_[A-Za-z]+$/.test(name);
}

/**
 * Train a language model with AdamW (lib/optim), linear warm-up + cosine decay and global-norm clipping.
 * `nextBatch(step)` supplies int32 token ids [batch, ctx] (as a flat Int32Array and its shape).
 */
export async function trainLanguageModel(model: TrainableLM, nextBatch: (step: number) => { ids: Int32Array; shape: [number, number] }, opts: LmTrainOptions): Promise<LmTrainResult> {
  const clipNorm = opts.clipNorm === undefined ? 1.0 : opts.clipNorm;
  const byVarName = new Map<string, string>();
  const vars: tf.Variable[] = [];
  for (const [name, v] of model.params) {
    if (!v.trainable) throw new Error(`parameter '${name}' is not trainable: create the model with { trainable: true }`);
    byVarName.set(v.name, name);
    vars.push(v);
  }
  const progress = opts.progress ?? NO_PROGRESS;
  const checkpoints = new Set(opts.checkpointSteps ?? []);
  const logEvery = opts.logEvery ?? 10;
  const losses: LmTrainResult['losses'] = [];
  if (checkpoints.has(0) && opts.onCheckpoint) await opts.onCheckpoint(0);
  const opt = new Adam(Object.fromEntries(model.params), opts.beta1 ?? 0.9, opts.beta2 ?? 0.95, 1e-8, { rate: opts.weightDecay ?? 0.1, applies: decays });
  let running = NaN;
  const stopPoint = interruptible('language-model training');
  try {
    for (let step = 1; step <= opts.steps; step++) {
      await stopPoint(`before step ${step} of ${opts.steps}`);
      const lr = cosineWithWarmup(step, opts.steps, opts.lr, opts.warmupSteps, opts.minLrFactor ?? 0.1);
      const { ids, shape } = nextBatch(step);
      const tokens = tf.tensor2d(ids, shape, 'int32');
      const { value, grads } = tf.variableGrads(() => model.lossOf(tokens), vars);
      const named: Record<string, tf.Tensor> = {};
      for (const [vn, g] of Object.entries(grads)) named[byVarName.get(vn) ?? vn] = g;
      opt.apply(named, lr, clipNorm === null ? 1 : clipFactor(globalGradNorm(named), clipNorm));
      const loss = value.dataSync()[0];
      tf.dispose([tokens, value, ...Object.values(grads)]);
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step}: loss ${loss} (lower the learning rate)`);
      running = Number.isNaN(running) ? loss : 0.95 * running + 0.05 * loss;
      if (step % logEvery === 0 || step === opts.steps) losses.push({ step, loss, lr });
      progress.tick(1, { loss: running, lr });
      if (checkpoints.has(step) && opts.onCheckpoint) await opts.onCheckpoint(step);
    }
  } finally {
    opt.dispose();
  }
  progress.done({ loss: running });
  return { losses };
}
