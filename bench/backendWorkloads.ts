import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../lib/model';
import { Adam } from '../lib/optim/adam';
import { releaseSaeTrainScratch } from '../lib/backend/fusedOps';
import { SAE } from '../lib/sae';
import { resolveTrainConfig } from '../lib/train/config';
import { trainingForward } from '../lib/train/losses';
import { SAEParams } from '../lib/train/params';

/**
 * The workloads that bench/backends.bench.ts times on each backend, written with plain tfjs ops
 * (so they run on any backend). Each `make*` builds its weights once and returns a step function
 * that runs one iteration and disposes everything it made.
 */

/** Sizes of the SAE workloads: [tokens, dIn] activations into dSae latents. */
export interface SaeShape { tokens: number; dIn: number; dSae: number }
/** Sizes of the transformer workload (GPT-2 small by default). */
export interface GptShape { batch: number; pos: number; dModel: number; nHeads: number; dMlp: number; nLayers: number; dVocab: number }

export const SAE_SHAPE: SaeShape = { tokens: 4096, dIn: 768, dSae: 24576 };
export const GPT2_SMALL: GptShape = { batch: 8, pos: 128, dModel: 768, nHeads: 12, dMlp: 3072, nLayers: 12, dVocab: 50257 };

/** Floating-point operations of the SAE forward pass (two matmuls). */
export const saeForwardFlops = (s: SaeShape): number => 2 * 2 * s.tokens * s.dIn * s.dSae;
/** A training step: forward, plus two matmuls per weight matrix backward (dx of the encoder input is not needed). */
export const saeTrainFlops = (s: SaeShape): number => saeForwardFlops(s) + 3 * 2 * s.tokens * s.dIn * s.dSae;

/** Matmul FLOPs of one GPT-2-shaped forward pass (attention projections, scores, MLP, unembedding). */
export function gptForwardFlops(g: GptShape): number {
  const tokens = g.batch * g.pos;
  const perLayer = 2 * tokens * (4 * g.dModel * g.dModel + 2 * g.dModel * g.dMlp) + 2 * 2 * g.batch * g.pos * g.pos * g.dModel;
  return g.nLayers * perLayer + 2 * tokens * g.dModel * g.dVocab;
}

function init(shape: number[], scale: number, seed: number): tf.Variable {
  return tf.variable(tf.randomNormal(shape, 0, scale, 'float32', seed));
}

/** b_enc of the SAE encode+decode workload: P(N(0, 1) > 2.87) ~ 0.002, so ~50 of 24576 features fire per token (as a trained SAE). */
export const SAE_FWD_BIAS = -2.87;

/**
 * SAE encode + decode as `saelab sae` runs it (lib/sae's SAE.run: relu((x - b_dec) W_enc + b_enc), decoded from the
 * active features where the backend can) on [tokens, dIn] with ~50 active features per token.
 * bench/torch/workloads.py (sae-fwd) does the same work with torch's dense products.
 */
export function makeSaeForward(s: SaeShape): { step: () => void; dispose: () => void } {
  const x = tf.randomNormal([s.tokens, s.dIn], 0, 1, 'float32', 1);
  const w: Record<string, tf.Tensor> = {
    W_enc: tf.randomNormal([s.dIn, s.dSae], 0, 1 / Math.sqrt(s.dIn), 'float32', 2),
    b_enc: tf.fill([s.dSae], SAE_FWD_BIAS),
    W_dec: tf.randomNormal([s.dSae, s.dIn], 0, 1 / Math.sqrt(s.dSae), 'float32', 3),
    b_dec: tf.zeros([s.dIn]),
  };
  const sae = SAE.create({ d_in: s.dIn, d_sae: s.dSae, metadata: { hook_name: 'blocks.6.hook_resid_pre' } }, w);
  tf.dispose(Object.values(w));
  const step = (): void => {
    const r = sae.run(x);
    r.featureActs.dataSync();
    r.saeOut.dataSync();
    tf.dispose([r.featureActs, r.saeOut]);
  };
  return { step, dispose: () => { x.dispose(); sae.dispose(); } };
}

/**
 * SAE training step as lib/train runs it (trainingForward's loss: MSE + L1 weighted by decoder row norms, with
 * x - b_dec as the encoder input; the gradients of all four parameters; one update of lib/optim's Adam), at
 * initialisation (about half the features active). bench/torch/workloads.py (sae-train) does the same in torch.
 */
export function makeSaeTrainStep(s: SaeShape): { step: () => void; dispose: () => void } {
  const x = tf.randomNormal([s.tokens, s.dIn], 0, 1, 'float32', 1) as tf.Tensor2D;
  const p: SAEParams = {
    W_enc: init([s.dIn, s.dSae], 1 / Math.sqrt(s.dIn), 2) as tf.Variable<tf.Rank.R2>,
    b_enc: tf.variable(tf.zeros([s.dSae])) as tf.Variable<tf.Rank.R1>,
    W_dec: init([s.dSae, s.dIn], 1 / Math.sqrt(s.dSae), 3) as tf.Variable<tf.Rank.R2>,
    b_dec: tf.variable(tf.zeros([s.dIn])) as tf.Variable<tf.Rank.R1>,
  };
  const cfg = resolveTrainConfig({ dIn: s.dIn, dSae: s.dSae, l1Coefficient: 5, scaleSparsityPenaltyByDecoderNorm: true, applyBDecToInput: true, trainBatchSizeTokens: s.tokens, trainingTokens: s.tokens });
  const vars: Record<string, tf.Variable> = { W_enc: p.W_enc, b_enc: p.b_enc, W_dec: p.W_dec, b_dec: p.b_dec };
  const opt = new Adam(vars, 0.9, 0.999, 1e-8);
  const step = (): void => {
    let kept: tf.Tensor[] = [];
    const { value: loss, grads } = tf.variableGrads(() => {
      const o = trainingForward(cfg, p, { x, target: x, coefficients: { l1: 5 } });
      kept = [o.featureActs, o.saeOut, ...Object.values(o.losses)].map((t) => tf.keep(t));
      return o.loss;
    }, Object.values(vars));
    opt.apply(Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, grads[v.name]])), 1e-4);
    loss.dataSync();
    tf.dispose([loss, ...kept, ...Object.values(grads)]);
  };
  return { step, dispose: () => { tf.dispose([x, ...Object.values(vars)]); opt.dispose(); releaseSaeTrainScratch(); } };
}

/**
 * The GPT-2-small forward as users run it: lib/model's HookedTransformer (random weights, GPT-2 config, LayerNorm,
 * gelu_new) runWithCache on [batch, pos] tokens caching the residual before the middle block, logits read back.
 * bench/torch/workloads.py (gpt2) does the same work in torch.
 */
export function makeModelForward(g: GptShape): { step: () => void; dispose: () => void } {
  const model = HookedTransformer.fromConfig({
    n_layers: g.nLayers, d_model: g.dModel, d_head: g.dModel / g.nHeads, n_heads: g.nHeads, d_mlp: g.dMlp, d_vocab: g.dVocab, n_ctx: 1024,
    act_fn: 'gelu_new', normalization_type: 'LN',
  }, { seed: 0 });
  const tokens = tf.tensor2d(Array.from({ length: g.batch * g.pos }, (_, i) => (i * 7919) % g.dVocab), [g.batch, g.pos], 'int32');
  const hook = `blocks.${Math.floor(g.nLayers / 2)}.hook_resid_pre`;
  const step = (): void => {
    const { logits, cache } = model.runWithCache(tokens, { namesFilter: [hook] });
    (logits as tf.Tensor).dataSync();
    cache.get(hook).dataSync();
    logits?.dispose();
    cache.dispose();
  };
  return { step, dispose: () => { tokens.dispose(); model.dispose(); } };
}

/** The 1024x768 @ 768x3072 matmul. */
export function makeMatmul(m = 1024, k = 768, n = 3072): { step: () => void; dispose: () => void; flops: number } {
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
  const step = (): void => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  return { step, dispose: () => tf.dispose([a, b]), flops: 2 * m * k * n };
}
