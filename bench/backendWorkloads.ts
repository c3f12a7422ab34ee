import * as tf from '@tensorflow/tfjs';
import { activation, linear } from '../lib/model/components';
import { Adam } from '../lib/optim/adam';
import { rowNorm } from '../lib/backend/fusedOps';

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

/** SAE encode + decode: relu(x W_enc + b_enc) W_dec + b_dec on [tokens, dIn], with fused matmuls as lib/sae runs them. */
export function makeSaeForward(s: SaeShape): { step: () => void; dispose: () => void } {
  const x = tf.randomNormal([s.tokens, s.dIn], 0, 1, 'float32', 1);
  const wEnc = init([s.dIn, s.dSae], 1 / Math.sqrt(s.dIn), 2);
  const bEnc = tf.variable(tf.zeros([s.dSae]));
  const wDec = init([s.dSae, s.dIn], 1 / Math.sqrt(s.dSae), 3);
  const bDec = tf.variable(tf.zeros([s.dIn]));
  const step = (): void => {
    const out = tf.tidy(() => {
      const acts = tf.fused.matMul({ a: tf.sub(x, bDec) as tf.Tensor2D, b: wEnc as tf.Tensor2D, bias: bEnc, activation: 'relu' }); // [tokens, dSae]
      return tf.fused.matMul({ a: acts, b: wDec as tf.Tensor2D, bias: bDec }); // [tokens, dIn]
    });
    out.dataSync();
    out.dispose();
  };
  return { step, dispose: () => tf.dispose([x, wEnc, bEnc, wDec, bDec]) };
}

/** SAE training step: MSE + L1 loss, gradients of all four parameters, one update of saelab's Adam (lib/optim). */
export function makeSaeTrainStep(s: SaeShape): { step: () => void; dispose: () => void } {
  const x = tf.randomNormal([s.tokens, s.dIn], 0, 1, 'float32', 1);
  const wEnc = init([s.dIn, s.dSae], 1 / Math.sqrt(s.dIn), 2);
  const bEnc = tf.variable(tf.zeros([s.dSae]));
  const wDec = init([s.dSae, s.dIn], 1 / Math.sqrt(s.dSae), 3);
  const bDec = tf.variable(tf.zeros([s.dIn]));
  const opt = new Adam({ wEnc, bEnc, wDec, bDec }, 0.9, 0.999, 1e-8);
  const l1 = 5;
  const step = (): void => {
    const { value: loss, grads } = tf.variableGrads(() => {
      const acts = tf.relu(tf.add(tf.matMul(tf.sub(x, bDec), wEnc), bEnc)); // [tokens, dSae]
      const recon = tf.add(tf.matMul(acts, wDec), bDec); // [tokens, dIn]
      const mse = tf.mean(tf.sum(tf.squaredDifference(recon, x), -1));
      const decNorms = rowNorm(wDec as tf.Tensor2D); // [dSae], as lib/train/losses.ts
      const sparsity = tf.mean(tf.sum(tf.mul(acts, decNorms), -1));
      return tf.add(mse, tf.mul(l1, sparsity)) as tf.Scalar;
    }, [wEnc, bEnc, wDec, bDec]);
    opt.apply({ wEnc: grads[wEnc.name], bEnc: grads[bEnc.name], wDec: grads[wDec.name], bDec: grads[bDec.name] }, 1e-4);
    loss.dataSync();
    tf.dispose([loss, ...Object.values(grads)]);
  };
  return { step, dispose: () => { tf.dispose([x, wEnc, bEnc, wDec, bDec]); opt.dispose(); } };
}

function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))), w), b);
}

/** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as the model computes it (lib/model/components). */
function geluNew(x: tf.Tensor): tf.Tensor {
  return activation('gelu_new', x);
}

interface Block { ln1w: tf.Tensor; ln1b: tf.Tensor; wQKV: tf.Tensor; bQKV: tf.Tensor; wO: tf.Tensor; bO: tf.Tensor; ln2w: tf.Tensor; ln2b: tf.Tensor; wIn: tf.Tensor; bIn: tf.Tensor; wOut: tf.Tensor; bOut: tf.Tensor }

/**
 * A GPT-2-shaped forward pass (token + position embedding, nLayers pre-LN blocks with causal attention and
 * a gelu_new MLP, final LN, unembedding) with one cached activation (the residual after the middle block);
 * linear layers and the activation are lib/model/components' (fused matmul + bias, fused GELU where the backend has them).
 */
export function makeGptForward(g: GptShape, withGrad = false): { step: () => void; dispose: () => void } {
  const dHead = g.dModel / g.nHeads;
  const wE = init([g.dVocab, g.dModel], 0.02, 10);
  const wPos = init([1024, g.dModel], 0.01, 11);
  const blocks: Block[] = [];
  for (let l = 0; l < g.nLayers; l++) {
    blocks.push({
      ln1w: tf.ones([g.dModel]), ln1b: tf.zeros([g.dModel]),
      wQKV: init([g.dModel, 3 * g.dModel], 0.02, 20 + l), bQKV: tf.zeros([3 * g.dModel]),
      wO: init([g.dModel, g.dModel], 0.02, 40 + l), bO: tf.zeros([g.dModel]),
      ln2w: tf.ones([g.dModel]), ln2b: tf.zeros([g.dModel]),
      wIn: init([g.dModel, g.dMlp], 0.02, 60 + l), bIn: tf.zeros([g.dMlp]),
      wOut: init([g.dMlp, g.dModel], 0.02, 80 + l), bOut: tf.zeros([g.dModel]),
    });
  }
  const lnfw = tf.ones([g.dModel]);
  const lnfb = tf.zeros([g.dModel]);
  const tokens = tf.tensor2d(Array.from({ length: g.batch * g.pos }, (_, i) => (i * 7919) % g.dVocab), [g.batch, g.pos], 'int32');
  const mask = tf.linalg.bandPart(tf.ones([g.pos, g.pos]), -1, 0); // [pos, pos] lower triangle
  const maskBias = tf.mul(tf.sub(1, mask), -1e9);
  const forward = (): { logits: tf.Tensor; cached: tf.Tensor } => {
    let resid = tf.add(tf.gather(wE, tokens), tf.slice(wPos, [0, 0], [g.pos, g.dModel])); // [batch, pos, dModel]
    let cached: tf.Tensor | undefined;
    for (let l = 0; l < g.nLayers; l++) {
      const b = blocks[l];
      const h = layerNorm(resid, b.ln1w, b.ln1b).reshape([g.batch * g.pos, g.dModel]);
      const qkv = linear(h, b.wQKV as tf.Tensor2D, b.bQKV).reshape([g.batch, g.pos, 3, g.nHeads, dHead]);
      const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4])); // each [batch, head, pos, dHead]
      const scores = tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(dHead)), maskBias); // [batch, head, pos, pos]
      const pattern = tf.softmax(scores, -1);
      const z = tf.transpose(tf.matMul(pattern, v), [0, 2, 1, 3]).reshape([g.batch * g.pos, g.dModel]);
      const attnOut = linear(z, b.wO as tf.Tensor2D, b.bO).reshape([g.batch, g.pos, g.dModel]);
      resid = tf.add(resid, attnOut);
      const h2 = layerNorm(resid, b.ln2w, b.ln2b).reshape([g.batch * g.pos, g.dModel]);
      const mlp = linear(geluNew(linear(h2, b.wIn as tf.Tensor2D, b.bIn)), b.wOut as tf.Tensor2D, b.bOut);
      resid = tf.add(resid, mlp.reshape([g.batch, g.pos, g.dModel]));
      if (l === Math.floor(g.nLayers / 2)) cached = resid;
    }
    const final = layerNorm(resid, lnfw, lnfb).reshape([g.batch * g.pos, g.dModel]);
    const logits = tf.matMul(final, wE, false, true); // [batch * pos, dVocab]
    return { logits, cached: cached ?? resid };
  };
  const step = (): void => {
    if (!withGrad) {
      const out = tf.tidy(() => { const r = forward(); return [r.logits, r.cached.clone()]; });
      out[0].dataSync();
      tf.dispose(out);
      return;
    }
    const grads = tf.tidy(() => {
      const vars = [wE, ...blocks.flatMap((b) => [b.wQKV, b.wO, b.wIn, b.wOut])];
      const { grads: gs, value } = tf.variableGrads(() => tf.mean(tf.logSumExp(forward().logits, -1)) as tf.Scalar, vars as tf.Variable[]);
      return [value, ...Object.values(gs)];
    });
    grads[0].dataSync();
    tf.dispose(grads);
  };
  const dispose = (): void => {
    tf.dispose([wE, wPos, lnfw, lnfb, tokens, mask, maskBias]);
    for (const b of blocks) tf.dispose(Object.values(b));
  };
  return { step, dispose };
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
