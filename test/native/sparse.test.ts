import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { fusedSaeTrainingLoss, sparseMatMul } from '../../lib/backend/fusedOps';
import { SAE } from '../../lib/sae';
import { resolveTrainConfig } from '../../lib/train/config';
import { trainingForward } from '../../lib/train/losses';
import { SAEParams } from '../../lib/train/params';
import { setupBackend } from '../helpers';
import { compareWithCpu, rand, requireNative } from './compare';

// Sparse decoding (SaelabSparseMatMul) and the fused SAE training step (SaelabSaeTrain*) against the dense tfjs
// compositions they replace, run on the cpu backend (where the fused functions return undefined).

before(async () => {
  await setupBackend();
  requireNative();
});

/** relu(u - shift) of a deterministic random [rows, cols] tensor: about (1 - shift) / 2 of the entries nonzero. */
function sparseRand(rows: number, cols: number, seed: number, shift: number): tf.Tensor2D {
  return tf.relu(tf.sub(rand([rows, cols], seed), shift)) as tf.Tensor2D;
}

const sparseOrDense = (a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor =>
  sparseMatMul(a, b, bias) ?? (bias ? tf.add(tf.matMul(a, b), bias) : tf.matMul(a, b));

test('sparseMatMul equals the dense product (sparse rows, empty rows, no bias, a dense input) and its gradients', async () => {
  await compareWithCpu('sparse with bias', () => sparseOrDense(sparseRand(60, 3000, 1, 0.995), rand([3000, 24], 2) as tf.Tensor2D, rand([24], 3) as tf.Tensor1D), 1e-5, 1e-5);
  await compareWithCpu('sparse without bias, some rows all zero', () => sparseOrDense(sparseRand(33, 500, 4, 0.999), rand([500, 7], 5) as tf.Tensor2D), 1e-5, 1e-5);
  await compareWithCpu('dense input (the GEMM path)', () => sparseOrDense(sparseRand(20, 300, 6, 0), rand([300, 9], 7) as tf.Tensor2D, rand([9], 8) as tf.Tensor1D), 1e-5, 1e-5);
  await compareWithCpu('gradients', () => {
    const a = sparseRand(12, 400, 9, 0.99);
    const b = rand([400, 6], 10) as tf.Tensor2D;
    const bias = rand([6], 11) as tf.Tensor1D;
    const w = rand([12, 6], 12);
    return tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(sparseOrDense(x as tf.Tensor2D, y as tf.Tensor2D, z as tf.Tensor1D), w)))([a, b, bias]);
  }, 1e-5, 1e-5);
});

test('on native, a sparse decode runs the sparse kernel and a dense one falls back to the fused GEMM', async () => {
  await tf.setBackend('native');
  const b = rand([2000, 8], 20) as tf.Tensor2D;
  const sparse = sparseRand(16, 2000, 21, 0.99);
  const dense = sparseRand(16, 2000, 22, 0);
  const prof = await tf.profile(() => sparseMatMul(sparse, b)!);
  assert.deepStrictEqual(prof.kernels.map((k) => k.name), ['SaelabSparseMatMul']);
  const want = tf.matMul(dense, b);
  const got = sparseMatMul(dense, b)!;
  assert.ok(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] < 1e-4);
  tf.dispose([b, sparse, dense, want, got, prof.result as tf.Tensor]);
});

test('an SAE with ~1% active features decodes through the sparse kernel to the dense values (all architectures)', async () => {
  for (const architecture of ['standard', 'jumprelu', 'topk', 'gated'] as const) {
    await compareWithCpu(`SAE.run ${architecture}`, () => {
      const dIn = 16, dSae = 800;
      const w: Record<string, tf.Tensor> = { W_enc: rand([dIn, dSae], 30, 0.5), W_dec: rand([dSae, dIn], 31), b_dec: rand([dIn], 32, 0.1) };
      if (architecture === 'gated') Object.assign(w, { b_gate: tf.fill([dSae], -1.6), b_mag: rand([dSae], 33, 0.1), r_mag: rand([dSae], 34, 0.1) });
      else w.b_enc = tf.fill([dSae], -1.6);
      if (architecture === 'jumprelu') w.threshold = tf.fill([dSae], 0.05);
      const sae = SAE.create({ d_in: dIn, d_sae: dSae, architecture, k: architecture === 'topk' ? 8 : undefined, metadata: { hook_name: 'blocks.0.hook_resid_pre' } }, w);
      const r = sae.run(rand([3, 10, dIn], 35), { withError: true });
      sae.dispose();
      return [r.featureActs, r.saeOut, r.error!];
    }, 1e-5, 1e-5);
  }
});

/** Loss parts, activations, reconstruction and the four gradients of one training forward pass. */
function trainingStep(opts: { applyBDecToInput: boolean; scaleSparsityPenaltyByDecoderNorm: boolean; noise: boolean; shift: number }): tf.Tensor[] {
  const dIn = 12, dSae = 96, T = 40;
  const cfg = resolveTrainConfig({ dIn, dSae, l1Coefficient: 0.7, applyBDecToInput: opts.applyBDecToInput, scaleSparsityPenaltyByDecoderNorm: opts.scaleSparsityPenaltyByDecoderNorm, trainBatchSizeTokens: T, trainingTokens: 10 * T });
  const p: SAEParams = {
    W_enc: tf.variable(rand([dIn, dSae], 40, 0.5)) as tf.Variable<tf.Rank.R2>,
    b_enc: tf.variable(tf.add(rand([dSae], 41, 0.2), -opts.shift)) as tf.Variable<tf.Rank.R1>,
    W_dec: tf.variable(rand([dSae, dIn], 42, 0.4)) as tf.Variable<tf.Rank.R2>,
    b_dec: tf.variable(rand([dIn], 43, 0.3)) as tf.Variable<tf.Rank.R1>,
  };
  const x = rand([T, dIn], 44) as tf.Tensor2D;
  const noise = opts.noise ? rand([T, dSae], 45, 0.1) as tf.Tensor2D : undefined;
  const vars = [p.W_enc, p.b_enc, p.W_dec, p.b_dec];
  let kept: tf.Tensor[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const o = trainingForward(cfg, p, { x, target: x, coefficients: { l1: 0.7 }, noise });
    kept = [o.losses.mse_loss, o.losses.l1_loss, o.featureActs, o.saeOut].map((t) => tf.keep(t));
    return o.loss;
  }, vars);
  const out = [value, ...kept, ...vars.map((v) => grads[v.name])];
  tf.dispose(vars);
  return out;
}

test('the fused standard-SAE training step gives the loss, activations and gradients of the tfjs composition', async () => {
  for (const applyBDecToInput of [true, false]) {
    for (const scaleSparsityPenaltyByDecoderNorm of [true, false]) {
      for (const [noise, shift] of [[false, 0], [true, 0], [false, 0.6]] as Array<[boolean, number]>) {
        await compareWithCpu(`train step bdec=${applyBDecToInput} scale=${scaleSparsityPenaltyByDecoderNorm} noise=${noise} shift=${shift}`,
          () => trainingStep({ applyBDecToInput, scaleSparsityPenaltyByDecoderNorm, noise, shift }), 1e-5, 1e-4);
      }
    }
  }
});

test('fusedSaeTrainingLoss outside a gradient keeps nothing, and its losses match its outputs', async () => {
  await tf.setBackend('native');
  const before = tf.memory().numTensors;
  const x = rand([8, 4], 50) as tf.Tensor2D;
  const w = { W_enc: rand([4, 20], 51) as tf.Tensor2D, b_enc: rand([20], 52) as tf.Tensor1D, W_dec: rand([20, 4], 53) as tf.Tensor2D, b_dec: rand([4], 54) as tf.Tensor1D };
  const r = fusedSaeTrainingLoss({ x, ...w, l1Coefficient: 1, applyBDecToInput: true, scaleByDecoderNorm: true })!;
  // by hand from the returned activations and reconstruction
  const mse = tf.tidy(() => tf.mean(tf.sum(tf.square(tf.sub(r.saeOut, x)), 1)).dataSync()[0]);
  assert.ok(Math.abs(r.mse.dataSync()[0] - mse) < 1e-5 * Math.max(1, mse));
  assert.ok(Math.abs(r.loss.dataSync()[0] - r.mse.dataSync()[0] - r.l1.dataSync()[0]) < 1e-5);
  tf.dispose([x, ...Object.values(w), r.loss, r.mse, r.l1, r.featureActs, r.saeOut]);
  assert.strictEqual(tf.memory().numTensors, before);
});
