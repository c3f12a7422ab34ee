import * as tf from '@tensorflow/tfjs';
import { AdamW, cosineWithWarmup } from './adamw';
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

/** Parameters that get weight decay: matrices (W_*), not biases or norm weights. */
export function decays(name: string): boolean {
  return /(^|\.)W_[A-Za-z]+$/.test(name);
}

/**
 * Train a language model with AdamW, linear warm-up + cosine decay and global-norm clipping.
 * `nextBatch(step)` supplies int32 token ids [batch, ctx] (as a flat Int32Array and its shape).
 */
export async function trainLanguageModel(model: TrainableLM, nextBatch: (step: number) => { ids: Int32Array; shape: [number, number] }, opts: LmTrainOptions): Promise<LmTrainResult> {
  const opt = new AdamW({ beta1: opts.beta1 ?? 0.9, beta2: opts.beta2 ?? 0.95, eps: 1e-8, weightDecay: opts.weightDecay ?? 0.1, clipNorm: opts.clipNorm === undefined ? 1.0 : opts.clipNorm });
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
      opt.apply(model.params, named, lr, decays);
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
