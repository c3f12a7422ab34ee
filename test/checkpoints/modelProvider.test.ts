import { test, before } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { runSweep, SweepSpec } from '../../lib/checkpoints/sweep';
import { modelCheckpointProvider, sampleWindows, collectHookActivations } from '../../lib/checkpoints/modelProvider';

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
