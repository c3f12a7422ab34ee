import { test, before } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { runSweep, SweepSpec } from '../../lib/checkpoints/sweep';
import { modelCheckpointProvider, sampleWindows, collectHookActivations, spliceCe, resumeLayerFor } from '../../lib/checkpoints/modelProvider';
import { rng, randn, saeFromDecoder } from './util';

before(setupBackend);

const CFG = { n_layers: 1, d_model: 8, d_head: 4, n_heads: 2, d_vocab: 20, n_ctx: 8, act_fn: 'gelu_new' as const };

test('model checkpoint provider: same windows for every checkpoint, activations at the hook, CE with the SAE spliced in', async () => {
  const stream = Int32Array.from({ length: 400 }, (_, i) => (i * 7 + (i >> 3)) % 20);
  const loaded: string[] = [];
  const provider = modelCheckpointProvider({
    model: 'tiny', trainTokens: stream, evalTokens: stream.slice(100), contextSize: 8, batchSize: 4, bosTokenId: 0, seed: 3, trainBatches: 8, evalBatches: 2,
    // "checkpoints" of a tiny random model: a different init seed per step
    loadModel: async (c) => (loaded.push(c.label), HookedTransformer.fromConfig(CFG, { seed: c.step })),
  });
  const spec: SweepSpec = {
    hook: 'blocks.0.hook_resid_post',
    checkpoints: [{ label: 's1', step: 1 }, { label: 's2', step: 2 }],
    training: { dSae: 16, trainingTokens: 8 * 32, trainBatchSizeTokens: 32, nBatchesInBuffer: 2, lr: 1e-2, l1Coefficient: 0.01, seed: 1, logEvery: 4 },
  };
  const rows = await runSweep(tmpDir(), spec, provider);
  assert.deepStrictEqual(loaded, ['s1', 's2']);
  // clean CE recomputed here from the model directly on the same evaluation windows (seed + 1)
  const windows = sampleWindows(stream.slice(100), 8, 4, 0, 4, 2);
  for (const [k, r] of rows.entries()) {
    const m = HookedTransformer.fromConfig(CFG, { seed: k + 1 });
    const losses = windows.map((w) => tf.tidy(() => (m.forward(tf.tensor2d(w, [4, 8], 'int32'), { returnType: 'loss' }).loss as tf.Tensor).dataSync()[0]));
    assertClose([r.clean_loss!], [(losses[0] + losses[1]) / 2], 1e-5, 1e-5, `${r.label} clean CE`);
    assert.ok(Number.isFinite(r.ce_loss_score!) && Number.isFinite(r.spliced_loss!) && Number.isFinite(r.zero_ablation_loss!));
    assert.strictEqual(r.eval_tokens, 2 * 4 * 8);
    const acts = collectHookActivations(m, spec.hook, windows.slice(0, 1), 4, 8);
    assert.strictEqual(acts.length, 4 * 8 * 8);
    m.dispose();
  }
});

test('spliceCe: the resumed spliced and zero-ablated passes give the losses of full passes with the hook replaced', async () => {
  const cfg = { ...CFG, n_layers: 3 };
  const m = HookedTransformer.fromConfig(cfg, { seed: 7 });
  const stream = Int32Array.from({ length: 200 }, (_, i) => (i * 11 + (i >> 2)) % 20);
  const windows = sampleWindows(stream, 8, 4, 0, 5, 2);
  const r = rng(9);
  const sae = saeFromDecoder(randn(r, 16 * 8), 16, 8);
  try {
    for (const hook of ['blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post', 'blocks.1.hook_mlp_out']) {
      assert.strictEqual(resumeLayerFor(hook), hook.endsWith('resid_pre') ? 1 : hook.endsWith('resid_post') ? Number(hook.split('.')[1]) + 1 : undefined);
      // the definition: mean next-token loss of full forward passes, with the hook's value replaced by the SAE's output / zeros
      const mean = (fwdHooks?: Array<[string, (a: tf.Tensor) => tf.Tensor]>) => windows.map((w) => tf.tidy(() => (m.forward(tf.tensor2d(w, [4, 8], 'int32'), { returnType: 'loss', fwdHooks }).loss as tf.Tensor).dataSync()[0])).reduce((a, b) => a + b) / windows.length;
      const clean = mean();
      const spliced = mean([[hook, (a) => sae.forward(a)]]);
      const zero = mean([[hook, (a) => tf.zerosLike(a)]]);
      const got = spliceCe(m, sae, hook, windows, 4, 8);
      assertClose([got.cleanLoss, got.splicedLoss, got.zeroLoss!], [clean, spliced, zero], 1e-6, 1e-6, hook);
      assertClose([got.ceLossScore!], [(zero - spliced) / (zero - clean)], 1e-5, 1e-5, `${hook} CE loss score`);
    }
  } finally {
    sae.dispose();
    m.dispose();
  }
});
