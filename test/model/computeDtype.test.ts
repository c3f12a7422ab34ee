import { test, before, after } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { modelRepo, writeStandinRepo } from '../../lib/standins';
import { bf16MatmulStats, bf16MatmulSupport } from '../../lib/backend/bf16';
import { REPO_ROOT, setupBackend, tmpDir } from '../helpers';

/**
 * computeDtype 'bfloat16': a bfloat16 model's matmuls on the stored bits with activations rounded to bfloat16,
 * against the same model computing in float32 (its weights widened). The documented bound (docs/performance.md):
 * on these stand-ins (6-32 layers) logits within 2^-5 of the largest float32 logit at most and 2^-8 of it on
 * average, the mean next-token loss within 2^-8 relative. One bfloat16 rounding is 2^-9 relative; these
 * models give 0.45-0.75% of the largest logit (max) and about 0.1% of it (mean).
 */

const cache = tmpDir('saelab-compute-');
const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE, mem: process.env.SAELAB_MAX_MEMORY, compute: process.env.SAELAB_COMPUTE_DTYPE };
const REPOS = ['openai-community/gpt2', 'google/gemma-2b', 'mistralai/Mistral-7B-v0.1', 'EleutherAI/pythia-70m-deduped'];
const TEXT = [50, 1212, 318, 257, 1332, 286, 262, 6164, 13, 632, 373, 257, 6016, 1110, 287, 3035];

before(async () => {
  await setupBackend();
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_HUB_OFFLINE = '1';
  delete process.env.SAELAB_MAX_MEMORY;
  delete process.env.SAELAB_COMPUTE_DTYPE;
  for (const repo of REPOS) await writeStandinRepo(modelRepo({ cacheRoot: cache, scale: 'tiny', seed: 5 }, repo, 'main'));
});

after(() => {
  for (const [k, v] of [['HF_HUB_CACHE', saved.cache], ['HF_HUB_OFFLINE', saved.offline], ['SAELAB_MAX_MEMORY', saved.mem], ['SAELAB_COMPUTE_DTYPE', saved.compute]] as const) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

function tokensFor(m: HookedTransformer): tf.Tensor2D {
  const ids = TEXT.map((t) => t % m.cfg.d_vocab);
  return tf.tensor2d([ids, ids.slice().reverse()], [2, ids.length], 'int32');
}

/** Largest |a - b|, mean |a - b| and largest |b|. */
function errors(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number; scale: number } {
  let max = 0, sum = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { max, mean: sum / a.length, scale };
}

test('computeDtype bfloat16: logits and loss within the documented bound of float32 compute (four families); float32 compute is the default', async (t) => {
  const ok = bf16MatmulSupport().ok;
  for (const repo of REPOS) {
    const f32 = await HookedTransformer.fromPretrained(repo, { dtype: 'bfloat16' });
    assert.strictEqual(f32.computeDtype, 'float32', 'float32 compute by default');
    const bf = await HookedTransformer.fromPretrained(repo, { computeDtype: 'bfloat16' });
    assert.strictEqual(bf.dtype, 'bfloat16', "dtype 'auto' loads bfloat16 weights for bfloat16 compute");
    assert.strictEqual(bf.computeDtype, 'bfloat16');
    const tokens = tokensFor(f32);
    const a = f32.forward(tokens).logits!;
    const calls = bf16MatmulStats().calls;
    const b = bf.forward(tokens).logits!;
    // 6 weight matmuls per block (Q, K, V, O, MLP in, out; gated MLPs 7) and the unembedding
    const perBlock = bf.cfg.gated_mlp ? 7 : 6;
    assert.strictEqual(bf16MatmulStats().calls - calls, ok ? perBlock * bf.cfg.n_layers + 1 : 0, `${repo}: bf16 matmuls run where the kernel is available`);
    const e = errors(b.dataSync(), a.dataSync());
    t.diagnostic(`${repo}: max ${e.max.toExponential(2)}, mean ${e.mean.toExponential(2)}, largest logit ${e.scale.toFixed(2)}`);
    if (ok) {
      assert.ok(e.max > 0, `${repo}: bfloat16 compute differs from float32 compute`);
      assert.ok(e.max <= 2 ** -5 * e.scale, `${repo}: max error ${e.max} > 2^-5 * ${e.scale}`);
      assert.ok(e.mean <= 2 ** -8 * e.scale, `${repo}: mean error ${e.mean} > 2^-8 * ${e.scale}`);
    } else {
      assert.strictEqual(e.max, 0, `${repo}: without the kernel, bfloat16 compute is float32 compute`);
    }
    // the loss (computed one vocabulary block at a time for 16-bit weights)
    const la = (f32.forward(tokens, { returnType: 'loss' }).loss as tf.Tensor).dataSync()[0];
    const lb = (bf.forward(tokens, { returnType: 'loss' }).loss as tf.Tensor).dataSync()[0];
    assert.ok(Math.abs(lb - la) <= 2 ** -8 * Math.abs(la), `${repo}: loss ${lb} vs ${la}`);
    // while a gradient is recorded the pass computes in float32 (the kernel has no backward): the same as f32's gradient
    if (repo === REPOS[0]) {
      const resid = f32.runWithCache(tokens, { namesFilter: ['blocks.1.hook_resid_pre'], returnType: 'none' }).cache;
      const r0 = resid.get('blocks.1.hook_resid_pre');
      const before = bf16MatmulStats().calls;
      const grad = (m: HookedTransformer) => tf.grad((x: tf.Tensor) => tf.sum(m.forward(tokens, { startAtLayer: 1, residual: x }).logits!))(r0);
      const ga = grad(f32), gb = grad(bf);
      assert.strictEqual(bf16MatmulStats().calls, before, 'no bf16 matmul while a gradient is recorded');
      assert.strictEqual(errors(gb.dataSync(), ga.dataSync()).max, 0);
      tf.dispose([ga, gb]);
      resid.dispose();
    }
    tf.dispose([a, b, tokens]);
    f32.dispose();
    bf.dispose();
  }
});

test('computeDtype: asking for it on float32 or float16 weights is an error; model.computeDtype can be set after loading', async () => {
  const repo = REPOS[0];
  await assert.rejects(HookedTransformer.fromPretrained(repo, { dtype: 'float32', computeDtype: 'bfloat16' }), /computeDtype 'bfloat16' needs the weights kept in bfloat16 .*got dtype 'float32'/);
  await assert.rejects(HookedTransformer.fromPretrained(repo, { dtype: 'float16', computeDtype: 'bfloat16' }), /got dtype 'float16'/);
  await assert.rejects(HookedTransformer.fromPretrained(repo, { computeDtype: 'float8' as never }), /computeDtype 'float8' is not one of float32, bfloat16/);
  const m = await HookedTransformer.fromPretrained(repo, { dtype: 'float32' });
  assert.throws(() => { m.computeDtype = 'bfloat16'; }, /this model's are float32 \(castWeights\('bfloat16'\)/);
  m.castWeights('bfloat16');
  m.computeDtype = 'bfloat16';
  assert.throws(() => m.castWeights('float32'), /set computeDtype = 'float32' first/);
  m.computeDtype = 'float32';
  m.castWeights('float32');
  m.dispose();
});

test('SAELAB_COMPUTE_DTYPE=bfloat16 applies to models loaded in bfloat16 only', async () => {
  process.env.SAELAB_COMPUTE_DTYPE = 'bfloat16';
  try {
    const a = await HookedTransformer.fromPretrained(REPOS[0], { dtype: 'bfloat16' });
    const b = await HookedTransformer.fromPretrained(REPOS[0], { dtype: 'float32' });
    assert.strictEqual(a.computeDtype, 'bfloat16');
    assert.strictEqual(b.computeDtype, 'float32');
    a.dispose(); b.dispose();
    process.env.SAELAB_COMPUTE_DTYPE = 'fp8';
    await assert.rejects(HookedTransformer.fromPretrained(REPOS[0], { dtype: 'bfloat16' }), /SAELAB_COMPUTE_DTYPE=fp8: use one of float32, bfloat16/);
  } finally {
    delete process.env.SAELAB_COMPUTE_DTYPE;
  }
});

test('without the kernel (oneDNN missing at run time, or limited below AVX512-BF16) a bfloat16-compute model says so once and computes in float32', () => {
  const script = `
    const tf = require('@tensorflow/tfjs');
    const { initBackend } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'index.js'))});
    const { HookedTransformer } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'model', 'hookedTransformer.js'))});
    const { bf16MatmulSupport, bf16MatmulStats } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'bf16.js'))});
    (async () => {
      await initBackend();
      const a = await HookedTransformer.fromPretrained(${JSON.stringify(REPOS[1])}, { dtype: 'bfloat16' });
      const b = await HookedTransformer.fromPretrained(${JSON.stringify(REPOS[1])}, { computeDtype: 'bfloat16' });
      const tokens = tf.tensor2d([[1, 2, 3, 4, 5]], [1, 5], 'int32');
      const x = a.forward(tokens).logits.dataSync(), y = b.forward(tokens).logits.dataSync();
      b.forward(tokens);
      const same = x.every((v, i) => Object.is(v, y[i]));
      console.log(JSON.stringify({ backend: tf.getBackend(), support: bf16MatmulSupport(), calls: bf16MatmulStats().calls, same }));
    })();
  `;
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['oneDNN missing', { SAELAB_DNNL_LIBRARY: path.join(cache, 'no', 'libdnnl.so.2') }, /could not be opened|has no AVX512-BF16|built without oneDNN/],
    ['ISA limited', { DNNL_MAX_CPU_ISA: 'AVX512_CORE' }, /does not use AVX512-BF16|has no AVX512-BF16|built without oneDNN|could not be opened/],
    ['wasm', { SAELAB_BACKEND: 'wasm' }, /the wasm backend has no bfloat16 matmul/],
  ];
  for (const [label, env, reason] of cases) {
    const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, env: { ...process.env, SAELAB_BACKEND: 'native', ...env }, encoding: 'utf8' });
    assert.strictEqual(r.status, 0, `${label}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.strictEqual(out.support.ok, false, label);
    assert.match(out.support.reason, reason, label);
    assert.strictEqual(out.calls, 0, label);
    assert.strictEqual(out.same, true, `${label}: float32 compute, bit for bit`);
    const notes = r.stderr.split('\n').filter((l) => l.includes("computeDtype 'bfloat16' computes in float32 here"));
    assert.strictEqual(notes.length, 1, `${label}: one note\n${r.stderr}`);
    assert.match(notes[0], reason, label);
  }
});
