/**
 * saelab's trainer against SAELens 6.18's own training code (test/fixtures/saelens/training, written by
 * tools/make_saelens_arch_fixtures.py running SAELens's SAETrainer with torch): from the same initial
 * parameters and the same 8 batches, every architecture's per-step losses, final parameters, BatchTopK
 * threshold and saved inference SAE match; SAELens's saved folders encode in saelab as in SAELens.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose, REPO_ROOT } from '../helpers';
import { SAETrainer } from '../../lib/train/trainer';
import { InMemorySource } from '../../lib/train/sources';
import { TrainSAEConfigInput } from '../../lib/train/config';
import { loadSafetensors, rawToTensor } from '../../lib/io/safetensors';
import { SAE } from '../../lib/sae';

before(setupBackend);

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'saelens', 'training');
const EXPECTED = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));

/** The saelab config of each fixture: SAELens 6 defaults plus the fields the fixture set. */
const CASES: Record<string, Partial<TrainSAEConfigInput>> = {
  standard: { architecture: 'standard', l1Coefficient: 0.3, l1WarmUpSteps: 2 },
  gated: { architecture: 'gated', l1Coefficient: 0.3 },
  jumprelu: { architecture: 'jumprelu', l0Coefficient: 0.05 },
  jumprelu_tanh: { architecture: 'jumprelu', l0Coefficient: 0.05, jumpreluSparsityLossMode: 'tanh', preActLossCoefficient: 0.003 },
  topk: { architecture: 'topk', k: 2 },
  batchtopk: { architecture: 'batchtopk', k: 1.5 },
  matryoshka_batchtopk: { architecture: 'matryoshka_batchtopk', k: 1.5, matryoshkaWidths: [3, 7] },
};

function loadFixture(name: string): { info: any; tensors: Record<string, tf.Tensor> } {
  const info = JSON.parse(fs.readFileSync(path.join(DIR, `${name}.json`), 'utf8'));
  const raw = loadSafetensors(path.join(DIR, `${name}.safetensors`)).tensors;
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(raw)) tensors[k] = rawToTensor(v, k);
  return { info, tensors };
}

for (const [name, extra] of Object.entries(CASES)) {
  test(`${name}: saelab's trainer follows SAELens 6.18's step by step and saves the same inference SAE`, async () => {
    const { info, tensors } = loadFixture(name);
    const { steps, batch, lr } = info;
    const data = tensors.batches as tf.Tensor2D;
    const trainer = await SAETrainer.create({
      dIn: 6, dSae: 16, trainingTokens: steps * batch, trainBatchSizeTokens: batch, nBatchesInBuffer: 2, lr, logEvery: 1,
      deadFeatureWindow: info.dead_feature_window, featureSamplingWindow: 1000, seed: 0, defaults: 'saelens6', ...extra,
    }, new InMemorySource(data), { progress: 'none' });
    const init: Record<string, tf.Tensor> = {};
    for (const k of Object.keys(trainer.params)) init[k] = tensors[`init.${k}`];
    trainer.loadParams(init);
    for (let s = 0; s < steps; s++) {
      const b = tf.slice(data, [s * batch, 0], [batch, -1]) as tf.Tensor2D;
      await trainer.trainStep(b);
      b.dispose();
    }
    // per-step losses, each named as SAELens names it
    assert.strictEqual(trainer.history.length, steps);
    trainer.history.forEach((m, s) => {
      const want = info.losses[s] as Record<string, number>;
      for (const [k, v] of Object.entries(want)) {
        const got = (m as unknown as Record<string, number>)[k] ?? 0;
        assertClose([got], [v], 2e-5, 2e-4, `${name} step ${s} ${k}`);
      }
    });
    if (info.topk_threshold.length) assertClose([trainer.archState.topk_threshold], [info.topk_threshold[steps - 1]], 1e-9, 1e-4, `${name} topk_threshold`);
    for (const [k, v] of Object.entries(trainer.params)) {
      assertClose(await v.data(), await tensors[`final.${k}`].data(), 2e-5, 2e-4, `${name} final ${k}`);
    }
    // the saved inference SAE: same architecture, fields and weights as SAELens's save_inference_model
    const ours = trainer.toSAE();
    const theirs = await SAE.load(path.join(DIR, `${name}_inference`));
    assert.strictEqual(ours.cfg.architecture, theirs.cfg.architecture);
    assert.strictEqual(ours.cfg.k, theirs.cfg.k);
    assert.strictEqual(ours.cfg.rescale_acts_by_decoder_norm, theirs.cfg.rescale_acts_by_decoder_norm);
    assert.deepStrictEqual(Object.keys(ours.weights).sort(), Object.keys(theirs.weights).sort());
    for (const [k, v] of Object.entries(theirs.weights)) assertClose(await ours.weights[k].data(), await v.data(), 2e-5, 2e-4, `${name} saved ${k}`);
    // SAELens's saved folder encodes in saelab as in SAELens
    const e = EXPECTED[name];
    assert.strictEqual(theirs.cfg.architecture, e.architecture);
    const x = tf.tensor(e.x, e.x_shape);
    const r = theirs.run(x);
    assertClose(await r.featureActs.data(), e.feature_acts, 1e-5, 1e-4, `${name} encode`);
    assertClose(await r.saeOut.data(), e.sae_out, 1e-5, 1e-4, `${name} forward`);
    tf.dispose([x, r.featureActs, r.saeOut, ...Object.values(tensors)]);
    ours.dispose();
    theirs.dispose();
    trainer.dispose();
  });
}
