import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { assertClose, setupBackend, tmpDir } from '../helpers';
import { Crosscoder } from '../../lib/crosscoder/crosscoder';
import { CrosscoderConfig, loadCrosscoderFolder } from '../../lib/crosscoder/format';
import { classifyLatent, countClasses, decoderDiff, latentScalingRatio, latentStats } from '../../lib/crosscoder/diff';
import { PairedSyntheticData } from '../../lib/crosscoder/synthetic';
import { createCrosscoderTrainer, crosscoderFromTrainer, trainCrosscoder } from '../../lib/crosscoder/train';
import { SAETrainer } from '../../lib/train/trainer';
import { bestCosineRecovery } from '../../lib/train/synthetic';
import { resolveTrainConfig } from '../../lib/train/config';

before(setupBackend);

function cfgOf(over: Partial<CrosscoderConfig> = {}): CrosscoderConfig {
  return { architecture: 'crosscoder', activation: 'relu', n_models: 2, d_in: 3, d_sae: 4, model_names: ['base', 'finetune'], hook_name: 'blocks.0.hook_resid_post', dtype: 'float32', metadata: {}, ...over };
}

/** Deterministic small weights: value = sin(1 + index * step). */
function filled(shape: number[], step: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Array.from({ length: n }, (_, i) => Math.sin(1 + i * step)), shape);
}

test('encode/decode follow the crosscoder formulas (plain loops over the published layout)', () => {
  const cfg = cfgOf();
  const W = { W_enc: filled([2, 3, 4], 0.7), W_dec: filled([4, 2, 3], 1.3), b_enc: filled([4], 2.1), b_dec: filled([2, 3], 0.4) };
  const [We, Wd, be, bd] = [W.W_enc, W.W_dec, W.b_enc, W.b_dec].map((t) => Array.from(t.dataSync()));
  const cc = new Crosscoder(cfg, W);
  const xb = [[0.5, -1, 2], [1, 0.2, -0.3]];
  const xf = [[-0.4, 0.9, 1.5], [0.1, 1, 1]];
  const f = cc.encode([tf.tensor2d(xb), tf.tensor2d(xf)]);
  const got = f.arraySync();
  const [rb, rf] = cc.decode(f).map((t) => t.arraySync());
  for (let t = 0; t < 2; t++) {
    const xs = [xb[t], xf[t]];
    const want = Array.from({ length: 4 }, (_, j) => {
      let pre = be[j];
      for (let m = 0; m < 2; m++) for (let i = 0; i < 3; i++) pre += xs[m][i] * We[(m * 3 + i) * 4 + j];
      return Math.max(0, pre);
    });
    assertClose(got[t], want, 1e-5, 1e-5, `f[${t}]`);
    for (let m = 0; m < 2; m++) {
      const rec = Array.from({ length: 3 }, (_, i) => {
        let v = bd[m * 3 + i];
        for (let j = 0; j < 4; j++) v += want[j] * Wd[(j * 2 + m) * 3 + i];
        return v;
      });
      assertClose([rb, rf][m][t], rec, 1e-5, 1e-5, `recon model ${m} token ${t}`);
    }
  }
  cc.dispose();
});

test('batchtopk inference keeps a latent where f x (sum of its decoder norms) exceeds the threshold; the folder round-trips', async () => {
  const cfg = cfgOf({ activation: 'batchtopk', k: 1, d_in: 1, d_sae: 2 });
  // latent 0: decoder norms 3 and 4 (sum 7); latent 1: norms 1 and 0 (sum 1); threshold 2 for both
  const weights = {
    W_enc: tf.tensor3d([[[1, 1]], [[0, 0]]]), W_dec: tf.tensor3d([[[3], [4]], [[1], [0]]]), b_enc: tf.tensor1d([0, 0]), b_dec: tf.zeros([2, 1]), threshold: tf.tensor1d([2, 2]),
  };
  const cc = new Crosscoder(cfg, weights);
  // x_base = 0.5: f = (0.5, 0.5); weighted (3.5, 0.5): latent 0 kept, latent 1 dropped
  assertClose(cc.encode([tf.tensor2d([[0.5]]), tf.tensor2d([[9]])]).dataSync(), [0.5, 0]);
  // x_base = 2.5: weighted (17.5, 2.5): both kept
  assertClose(cc.encode([tf.tensor2d([[2.5]]), tf.tensor2d([[0]])]).dataSync(), [2.5, 2.5]);
  const dir = path.join(tmpDir(), 'cc');
  await cc.save(dir);
  assert.deepStrictEqual(fs.readdirSync(dir).sort(), ['cfg.json', 'crosscoder_weights.safetensors']);
  const back = Crosscoder.load(dir);
  assert.deepStrictEqual(back.cfg, cfg);
  assertClose(back.encode([tf.tensor2d([[0.5]]), tf.tensor2d([[9]])]).dataSync(), [0.5, 0]);
  for (const [name, t] of Object.entries(weights)) assertClose(back.weights[name].dataSync(), t.dataSync(), 0, 0, name);
  // a wrong shape names the file and the tensor
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ ...cfg, d_sae: 3 }));
  assert.throws(() => loadCrosscoderFolder(dir), /crosscoder_weights\.safetensors: W_enc has shape \[2,1,2\], cfg\.json implies \[2,1,3\]/);
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ ...cfg, model_names: ['only one'] }));
  assert.throws(() => loadCrosscoderFolder(dir), /cfg\.json: model_names must be 2 strings/);
  cc.dispose();
  back.dispose();
});

test('relative norm, decoder cosine and classes on a hand-made decoder', () => {
  // per latent (base row, finetune row): shared same direction; shared rotated 90 degrees; base-only; finetune-only; in between; dead
  const rows = [
    [[1, 0], [1, 0]],
    [[0, 2], [2, 0]],
    [[3, 4], [0, 0.05]],
    [[0, 0], [0, -1]],
    [[1, 0], [0, 3]],
    [[0, 0], [0, 0]],
  ];
  const cfg = cfgOf({ d_in: 2, d_sae: 6 });
  const cc = new Crosscoder(cfg, { W_enc: tf.zeros([2, 2, 6]), W_dec: tf.tensor3d(rows), b_enc: tf.zeros([6]), b_dec: tf.zeros([2, 2]) });
  const d = decoderDiff(cc);
  assertClose(d.relativeNorm, [0.5, 0.5, 0.05 / 5.05, 1, 0.75, 0.5], 1e-6);
  assertClose(d.cosine, [1, 0, 0.8, 0, 0, 0], 1e-6);
  assert.deepStrictEqual(d.classes, ['shared', 'shared', 'base_only', 'finetune_only', 'other', 'dead']);
  assert.deepStrictEqual(countClasses(d.classes), { shared: 2, base_only: 1, finetune_only: 1, other: 1, dead: 1 });
  assert.strictEqual(classifyLatent(0.69, 1), 'shared');
  assert.strictEqual(classifyLatent(0.71, 1), 'other');
  cc.dispose();
});

test('latent stats: density, mean activation and latent scaling by least squares', () => {
  // d_in 1, one latent with encoder reading the base only: f = x_base; decoder (base 1, finetune 2)
  const cc = new Crosscoder(cfgOf({ d_in: 1, d_sae: 1 }), { W_enc: tf.tensor3d([[[1]], [[0]]]), W_dec: tf.tensor3d([[[1], [2]]]), b_enc: tf.zeros([1]), b_dec: tf.zeros([2, 1]) });
  const xb = [0, 1, 2, 0];
  const xf = [0, 0.5, 1.5, 3]; // the finetune carries the latent at about 0.7 of its base-decoder scale
  const stats = latentStats(cc, [[tf.tensor2d(xb, [4, 1]), tf.tensor2d(xf, [4, 1])]]);
  assert.strictEqual(stats.tokens, 4);
  assertClose(stats.density, [0.5]);
  assertClose(stats.meanActive, [1.5]);
  // own model = finetune (norm 2), v = 2: beta_m = sum_t f_t y_mt v / (v^2 sum f^2), y = x (the contribution plus the error is x - b_dec)
  const sumF2 = 1 + 4;
  assertClose(stats.beta[0], [(1 * 1 + 2 * 2) * 2 / (4 * sumF2)], 1e-6);
  assertClose(stats.beta[1], [(1 * 0.5 + 2 * 1.5) * 2 / (4 * sumF2)], 1e-6);
  const ratio = latentScalingRatio(stats, decoderDiff(cc));
  assertClose(ratio, [stats.beta[0][0] / stats.beta[1][0]], 1e-6);
  // explained variance per model, by hand: base reconstruction is exact; finetune's is 2 x_base
  const evF = 1 - [0, 2 - 0.5, 4 - 1.5, 3].reduce((a, e) => a + e * e, 0) / [0, 0.5, 1.5, 3].reduce((a, v) => a + (v - 1.25) ** 2, 0);
  assertClose(stats.explainedVariance, [1, evF], 1e-5);
  cc.dispose();
});

test('crosscoder configs are checked: nModels divides dIn, no unit-norm decoder', () => {
  assert.throws(() => resolveTrainConfig({ architecture: 'crosscoder', nModels: 2, dIn: 5, trainingTokens: 4096 }), /dIn \(5\) must be nModels \(2\) x the width/);
  assert.throws(() => resolveTrainConfig({ architecture: 'batchtopk_crosscoder', nModels: 2, dIn: 4, normalizeSaeDecoder: true, trainingTokens: 4096 }), /normalizeSaeDecoder must be false/);
  const c = resolveTrainConfig({ architecture: 'batchtopk_crosscoder', dIn: 4, trainingTokens: 4096 });
  assert.strictEqual(c.nModels, 2);
  assert.strictEqual(c.applyBDecToInput, false);
});

test('the trainer machinery: metrics.jsonl, checkpoints that resume to the same crosscoder, the final folder', async () => {
  const data = new PairedSyntheticData({ dIn: 4, shared: 2, rotated: 1, baseOnly: 1, finetuneOnly: 1, activePerSample: 1, chunkTokens: 256, seed: 3 });
  const input = { activation: 'batchtopk' as const, nModels: 2, dIn: 8, dSae: 8, k: 1, trainingTokens: 64 * 20, trainBatchSizeTokens: 64, nBatchesInBuffer: 2, nCheckpoints: 2, logEvery: 5, lr: 1e-2, metadata: { model_names: ['en', 'js'], hook_name: 'blocks.0.hook_resid_post' } };
  const full = path.join(tmpDir(), 'full');
  const { crosscoder: a, result } = await trainCrosscoder(input, data.source(), { outDir: full, progress: 'none' });
  assert.ok(result.completed);
  const lines = fs.readFileSync(path.join(full, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepStrictEqual(lines.map((m) => m.step), [5, 10, 15, 20]);
  assert.ok(lines.every((m) => m.topk_threshold > 0 && Number.isFinite(m.mse_loss)));
  const saved = Crosscoder.load(full);
  assert.deepStrictEqual(saved.cfg.model_names, ['en', 'js']);
  assert.strictEqual(saved.cfg.hook_name, 'blocks.0.hook_resid_post');
  assertClose(saved.weights.W_dec.dataSync(), a.weights.W_dec.dataSync(), 0, 0, 'saved W_dec');
  const ckpts = fs.readdirSync(path.join(full, 'checkpoints'));
  assert.deepStrictEqual(ckpts, ['704']); // the first step whose tokens pass trainingTokens / nCheckpoints = 640
  assert.ok(fs.existsSync(path.join(full, 'checkpoints', '704', 'crosscoder_weights.safetensors')));
  // stop after 7 steps, resume from the checkpoint written after step 11: same weights as the uninterrupted run
  const part = path.join(tmpDir(), 'part');
  const t1 = await createCrosscoderTrainer(input, data.source(), { outDir: part, progress: 'none', stopAfterSteps: 12 });
  await t1.fit();
  t1.dispose();
  const t2 = await SAETrainer.resume(path.join(part, 'checkpoints', '704'), data.source(), { outDir: part, progress: 'none' });
  await t2.fit();
  const b = crosscoderFromTrainer(t2);
  t2.dispose();
  for (const name of ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold']) assertClose(b.weights[name].dataSync(), a.weights[name].dataSync(), 1e-6, 1e-5, name);
  for (const c of [a, b, saved]) c.dispose();
});

/**
 * Ground truth (d_in 48 per model): 24 shared latents (same direction in both models), 8 rotated (the
 * finetune's direction at cosine 0.3 to the base's), 8 base-only and 8 finetune-only, firing ~2 per token
 * at the same tokens in both models. The BatchTopK crosscoder must recover the concatenated directions
 * (mean best cosine >= 0.9) and put >= 90% of the true latents, through their best-matching latent, in
 * the right class (rotated ones count as shared by norm, and must show a low decoder cosine).
 */
test('a BatchTopK crosscoder recovers shared, rotated and exclusive latents of synthetic paired data', async () => {
  const D = 48;
  const data = new PairedSyntheticData({ dIn: D, shared: 24, rotated: 8, baseOnly: 8, finetuneOnly: 8, rotatedCosine: 0.3, activePerSample: 2, chunkTokens: 2048, seed: 1 });
  const steps = 2000;
  const batch = 512;
  const { crosscoder: cc } = await trainCrosscoder({ activation: 'batchtopk', nModels: 2, dIn: 2 * D, dSae: 96, k: 3, lr: 5e-3, lrDecaySteps: 500, trainingTokens: steps * batch, trainBatchSizeTokens: batch, nBatchesInBuffer: 4, logEvery: 500 }, data.source(), { progress: 'none' });
  const truth = data.directions();
  const flat = tf.reshape(cc.weights.W_dec, [96, 2 * D]) as tf.Tensor2D;
  const rec = bestCosineRecovery(truth, flat);
  const best = tf.tidy(() => tf.argMax(tf.matMul(tf.div(truth, tf.norm(truth, 'euclidean', 1, true)), tf.div(flat, tf.maximum(tf.norm(flat, 'euclidean', 1, true), 1e-12)), false, true), 1)).dataSync();
  const diff = decoderDiff(cc);
  const right = data.latents.filter((l, i) => diff.classes[best[i]] === l.expected).length;
  const median = (v: number[]): number => v.sort((x, y) => x - y)[Math.floor(v.length / 2)];
  const cosOf = (kind: string): number[] => data.latents.flatMap((l, i) => (l.kind === kind ? [diff.cosine[best[i]]] : []));
  console.log(`crosscoder ground truth: mean max cosine ${rec.mean.toFixed(3)}, classified ${right}/${data.latents.length}, median decoder cosine shared ${median(cosOf('shared')).toFixed(2)} rotated ${median(cosOf('rotated')).toFixed(2)}`);
  assert.ok(rec.mean >= 0.9, `mean max cosine ${rec.mean}`);
  assert.ok(right / data.latents.length >= 0.9, `classified ${right} of ${data.latents.length}`);
  assert.ok(median(cosOf('shared')) > 0.9, 'shared latents keep one direction');
  assert.ok(Math.abs(median(cosOf('rotated')) - 0.3) < 0.15, 'rotated latents show their rotation');
  tf.dispose([truth, flat]);
  cc.dispose();
});
