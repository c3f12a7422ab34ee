/**
 * Splicing through the hook API, first against a tiny fake causal model whose maths is done by hand:
 * the activation at blocks.0.hook_resid_pre is [token, 1] per position and the "logits" are the
 * running sum of the (possibly replaced) activations over positions.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { SAE, spliceHooks, runWithSAE, runWithCacheAndSAE, modelOptionsFromSAE, SpliceableModel } from '../../lib/sae';
import { ForwardOptions, ForwardResult, RunWithCacheOptions, HookSelector, HookFn } from '../../lib/model/types';
import { setupBackend, assertClose } from '../helpers';

before(setupBackend);

const HOOK = 'blocks.0.hook_resid_pre';

class FakeModel implements SpliceableModel {
  private applyHooks(name: string, act: tf.Tensor, hooks: Array<[HookSelector, HookFn]>, cache?: Map<string, tf.Tensor>): tf.Tensor {
    let a = act;
    for (const [sel, fn] of hooks) {
      if (typeof sel === 'string' ? sel === name : sel(name)) {
        const r = fn(a, { name });
        if (r) a = r;
      }
    }
    if (cache) cache.set(name, tf.keep(a.clone()));
    return a;
  }

  private run(tokens: tf.Tensor, opts: ForwardOptions, cache?: Map<string, tf.Tensor>): ForwardResult {
    const logits = tf.tidy(() => {
      const ids = tokens.arraySync() as number[][];
      const act = tf.tensor3d(ids.map((row) => row.map((id) => [id, 1]))); // [b, p, 2]
      const a = this.applyHooks(HOOK, act, opts.fwdHooks ?? [], cache);
      return tf.cumsum(a, 1) as tf.Tensor3D;
    });
    return { logits };
  }

  forward(tokens: tf.Tensor, opts: ForwardOptions = {}): ForwardResult {
    return this.run(tokens, opts);
  }

  runWithCache(tokens: tf.Tensor, opts: RunWithCacheOptions = {}): ForwardResult & { cache: Map<string, tf.Tensor> } {
    const cache = new Map<string, tf.Tensor>();
    return { ...this.run(tokens, opts, cache), cache };
  }
}

function tinySAE(): SAE {
  const w = {
    W_enc: tf.tensor2d([[1, 0, 1], [0, 1, -1]]), W_dec: tf.tensor2d([[1, 0], [0, 2], [1, 1]]),
    b_enc: tf.tensor1d([0.5, -1, 0]), b_dec: tf.tensor1d([1, -1]),
  };
  return SAE.create({ d_in: 2, d_sae: 3, metadata: { hook_name: HOOK, model_name: 'fake', model_from_pretrained_kwargs: { center_writing_weights: true } } }, w);
}

// tokens [[3, 0]]: activations [[3,1],[0,1]]
//   SAE at [3,1]: f=[2.5,1,0], x^=[3.5,1], error=[-0.5,0]
//   SAE at [0,1]: x~=[-1,2], pre=[-0.5,1,-3], f=[0,1,0], x^=[0,2]+[1,-1]=[1,1], error=[-1,0]
const TOKENS = () => tf.tensor2d([[3, 0]], [1, 2], 'int32');

async function logitsOf(res: ForwardResult): Promise<number[]> {
  return Array.from(await res.logits!.data());
}

test('splice at all positions replaces the activation with the reconstruction', async () => {
  const model = new FakeModel();
  const sae = tinySAE();
  assert.deepStrictEqual(await logitsOf(model.forward(TOKENS())), [3, 1, 3, 2]);
  // [[3.5,1],[1,1]] -> running sum [[3.5,1],[4.5,2]]
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS())), [3.5, 1, 4.5, 2]);
  // the hook pair is [hook_name, fn]
  const hooks = spliceHooks(sae);
  assert.strictEqual(hooks.length, 1);
  assert.strictEqual(hooks[0][0], HOOK);
  sae.dispose();
});

test('splice at chosen positions keeps the original activation elsewhere', async () => {
  const model = new FakeModel();
  const sae = tinySAE();
  // only position 1: [[3,1],[1,1]] -> [[3,1],[4,2]]; position 0 unchanged
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { positions: [1] })), [3, 1, 4, 2]);
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { positions: [-1] })), [3, 1, 4, 2]);
  // boolean mask: only position 0: [[3.5,1],[0,1]] -> [[3.5,1],[3.5,2]]
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { positions: [[true, false]] })), [3.5, 1, 3.5, 2]);
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { positions: tf.tensor2d([[1, 0]]) })), [3.5, 1, 3.5, 2]);
  assert.throws(() => runWithSAE(model, sae, TOKENS(), { positions: [5] }), /position 5 is out of range for 2 positions/);
  sae.dispose();
});

test('the error term restores the original activation; interventions change only what they touch', async () => {
  const model = new FakeModel();
  const sae = tinySAE();
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { includeError: true })), [3, 1, 3, 2], 1e-6);
  // zero feature 0 with error: pos 0 edited f=[0,1,0] -> [0,2]+[1,-1]=[1,1], + error [-0.5,0] = [0.5,1]; pos 1 unchanged [0,1]
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { includeError: true, interventions: [{ feature: 0, op: 'zero' }] })), [0.5, 1, 0.5, 2], 1e-6);
  // set feature 2 to 1, no error: pos 0 f=[2.5,1,1] -> [4.5,2]; pos 1 f=[0,1,1] -> [2,2]; sums [[4.5,2],[6.5,4]]
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { interventions: [{ feature: 2, op: 'set', value: 1 }] })), [4.5, 2, 6.5, 4], 1e-6);
  // scale feature 1 by 3: pos 0 f=[2.5,3,0] -> [3.5,5]; pos 1 f=[0,3,0] -> [1,5]; sums [[3.5,5],[4.5,10]]
  assertClose(await logitsOf(runWithSAE(model, sae, TOKENS(), { interventions: [{ feature: 1, op: 'scale', value: 3 }] })), [3.5, 5, 4.5, 10], 1e-6);
  assert.throws(() => spliceHooks(sae, { interventions: [{ feature: 3, op: 'zero' }] }), /feature 3 is out of range for d_sae=3/);
  sae.dispose();
});

test('runWithCacheAndSAE caches the SAE internals under SAELens names', async () => {
  const model = new FakeModel();
  const sae = tinySAE();
  const res = runWithCacheAndSAE(model, sae, TOKENS(), { includeError: true });
  assertClose(await res.saeCache.get(`${HOOK}.hook_sae_acts_post`)!.data(), [2.5, 1, 0, 0, 1, 0]);
  assertClose(await res.saeCache.get(`${HOOK}.hook_sae_recons`)!.data(), [3.5, 1, 1, 1]);
  assertClose(await res.saeCache.get(`${HOOK}.hook_sae_error`)!.data(), [-0.5, 0, -1, 0]);
  assertClose(await res.saeCache.get(`${HOOK}.hook_sae_input`)!.data(), [3, 1, 0, 1]);
  // the model's own cache sees the spliced activation (= original, with the error term)
  assertClose(await res.cache.get(HOOK)!.data(), [3, 1, 0, 1], 1e-6);
  sae.dispose();
});

test('a width mismatch names the model hook and both widths', () => {
  const model = new FakeModel();
  const w = { W_enc: tf.zeros([3, 2]), W_dec: tf.zeros([2, 3]), b_enc: tf.zeros([2]), b_dec: tf.zeros([3]) };
  const sae = SAE.create({ d_in: 3, d_sae: 2, metadata: { hook_name: HOOK } }, w);
  assert.throws(() => runWithSAE(model, sae, TOKENS()), /SAE d_in=3 does not match the model's blocks.0.hook_resid_pre width 2/);
  sae.dispose();
});

test('modelOptionsFromSAE maps model_from_pretrained_kwargs and warns on user overrides', () => {
  const sae = tinySAE();
  const a = modelOptionsFromSAE(sae);
  assert.deepStrictEqual(a.options, { centerWritingWeights: true });
  assert.strictEqual(a.modelName, 'fake');
  assert.strictEqual(a.prependBos, true);
  assert.deepStrictEqual(a.warnings, []);
  const b = modelOptionsFromSAE(sae, { centerWritingWeights: false, foldLn: false }, { emit: false });
  assert.deepStrictEqual(b.options, { centerWritingWeights: false, foldLn: false });
  assert.strictEqual(b.warnings.length, 1);
  assert.match(b.warnings[0], /trained with centerWritingWeights=true .* loaded with centerWritingWeights=false/);
  sae.dispose();
});
