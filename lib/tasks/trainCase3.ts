/**
 * Train a model of InterpBench case 3's architecture on the case-3 task (regression of the running
 * fraction of x at logits[..., 0]) with saelab's own trainer, on all 320 inputs (full batch).
 */
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { HookedTransformerConfigInput } from '../model/config';
import { trainLanguageModel } from '../lm/trainer';
import { ProgressReporter } from '../notebook/progress';
import { case3Accuracy, case3Inputs, case3Labels, case3Mse } from './interpbench';

/** InterpBench case 3's architecture: 2 layers, 4 heads of d_head 3, d_model 12, d_mlp 48, gelu, no LayerNorm. */
export const CASE3_MODEL_CONFIG: HookedTransformerConfigInput = {
  n_layers: 2, d_model: 12, n_heads: 4, d_head: 3, d_mlp: 48, d_vocab: 6, d_vocab_out: 1, n_ctx: 5,
  act_fn: 'gelu', normalization_type: null, model_name: 'interpbench-case-3-saelab', default_prepend_bos: false,
};

export interface TrainCase3Options {
  steps?: number;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  seed?: number;
  progress?: ProgressReporter;
}

export interface TrainCase3Result {
  model: HookedTransformer;
  accuracy: { accuracy: number; correct: number; total: number; maxError: number };
  finalLoss: number;
  options: Required<Omit<TrainCase3Options, 'progress'>>;
}

/** Train from a fresh init (TransformerLens init, `seed`) with AdamW + warm-up/cosine on the MSE over readout positions. */
export async function trainCase3Model(opts: TrainCase3Options = {}): Promise<TrainCase3Result> {
  const o = { steps: opts.steps ?? 3000, lr: opts.lr ?? 3e-3, warmupSteps: opts.warmupSteps ?? 100, weightDecay: opts.weightDecay ?? 0, seed: opts.seed ?? 0 };
  const model = HookedTransformer.fromConfig({ ...CASE3_MODEL_CONFIG, seed: o.seed }, { seed: o.seed, trainable: true });
  const inputs = case3Inputs();
  const { labels, mask, shape } = case3Labels(inputs);
  const labelsT = tf.tensor2d(labels, shape);
  const maskT = tf.tensor2d(mask, shape);
  const ids = Int32Array.from(inputs.flat());
  try {
    const lm = {
      params: model.params,
      // every batch is the full set of 320 inputs, so the precomputed labels apply
      lossOf: (tokens: tf.Tensor2D) => tf.tidy(() => case3Mse(model.forward(tokens).logits as tf.Tensor3D, labelsT, maskT)),
    };
    const { losses } = await trainLanguageModel(lm, () => ({ ids, shape }), {
      steps: o.steps, lr: o.lr, warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, minLrFactor: 0.05, clipNorm: 1.0, logEvery: 50, progress: opts.progress,
    });
    const tokens = tf.tensor2d(ids, shape, 'int32');
    const logits = model.forward(tokens).logits as tf.Tensor3D;
    const accuracy = await case3Accuracy(logits, inputs);
    tf.dispose([tokens, logits]);
    return { model, accuracy, finalLoss: losses.length ? losses[losses.length - 1].loss : NaN, options: o };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose([labelsT, maskT]);
  }
}
