import { test, before, after } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { StateDict } from '../../lib/model/params';
import { modelRepo, writeStandinRepo } from '../../lib/standins';
import { parseBytes } from '../../lib/model/memory';
import { setupBackend, tmpDir } from '../helpers';

const cache = tmpDir('saelab-dtype-');
const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE, mem: process.env.SAELAB_MAX_MEMORY };
const REPOS = ['openai-community/gpt2', 'google/gemma-2b', 'mistralai/Mistral-7B-v0.1', 'EleutherAI/pythia-70m-deduped'];

before(async () => {
  await setupBackend();
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_HUB_OFFLINE = '1';
  delete process.env.SAELAB_MAX_MEMORY;
  for (const repo of REPOS) await writeStandinRepo(modelRepo({ cacheRoot: cache, scale: 'tiny', seed: 3 }, repo, 'main'));
});

after(() => {
  for (const [k, v] of [['HF_HUB_CACHE', saved.cache], ['HF_HUB_OFFLINE', saved.offline], ['SAELAB_MAX_MEMORY', saved.mem]] as const) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

/** float32 -> bfloat16 -> float32, round to nearest even, by the bit layout (independent of the library). */
function roundBf16(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  const b = dv.getUint32(0);
  const rounded = (b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000;
  dv.setUint32(0, rounded >>> 0);
  return dv.getFloat32(0);
}

/** float32 -> IEEE half -> float32 for values in half's normal range (as the tiny stand-ins' weights are): mantissa to 10 bits, nearest even. */
function roundF16(x: number): number {
  if (x === 0) return x;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const q = x / ulp;
  const r = Math.round(q);
  const even = Math.abs(q - Math.trunc(q)) === 0.5 ? 2 * Math.round(q / 2) : r;
  return Math.fround(even * ulp);
}

function rounded(sd: StateDict, round: (x: number) => number): StateDict {
  const out: StateDict = {};
  for (const [k, t] of Object.entries(sd)) out[k] = tf.tensor(Float32Array.from(t.dataSync(), round), t.shape);
  return out;
}

const TEXT = [50, 1212, 318, 257, 1332, 286, 262, 6164, 13, 632, 373, 257, 6016, 1110, 287, 3035];

test('a 16-bit model computes exactly what float32 processing then rounding gives (bfloat16 and float16, four families)', async () => {
  for (const repo of REPOS) {
    const f32 = await HookedTransformer.fromPretrained(repo, { dtype: 'float32' });
    for (const [dtype, round] of [['bfloat16', roundBf16], ['float16', roundF16]] as const) {
      const m16 = await HookedTransformer.fromPretrained(repo, { dtype });
      assert.strictEqual(m16.dtype, dtype);
      assert.strictEqual(m16.weightBytes() * 2, f32.weightBytes(), `${repo}: 16-bit weights take half the bytes`);
      const sd = f32.stateDict();
      const ref = HookedTransformer.fromStateDict(f32.cfg, rounded(sd, round));
      tf.dispose(Object.values(sd));
      const ids = TEXT.map((t) => t % f32.cfg.d_vocab);
      const tokens = tf.tensor2d([ids, ids.slice().reverse()], [2, ids.length], 'int32');
      const a = m16.forward(tokens).logits!;
      const b = ref.forward(tokens).logits!;
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
      assert.strictEqual(diff, 0, `${repo} ${dtype}: logits differ from the rounded float32 reference by ${diff}`);
      // and the activations at a hook, through runWithCache
      const hook = 'blocks.2.hook_resid_post';
      const ca = m16.runWithCache(tokens, { namesFilter: [hook], returnType: 'none' }).cache;
      const cb = ref.runWithCache(tokens, { namesFilter: [hook], returnType: 'none' }).cache;
      assert.strictEqual(tf.tidy(() => tf.max(tf.abs(tf.sub(ca.get(hook), cb.get(hook)))).dataSync()[0]), 0);
      ca.dispose(); cb.dispose();
      tf.dispose([a, b, tokens]);
      ref.dispose();
      m16.dispose();
    }
    f32.dispose();
  }
});

test('the loss computed one vocabulary block at a time equals log-sum-exp over the full logits', async () => {
  const model = await HookedTransformer.fromPretrained('google/gemma-2b', { dtype: 'bfloat16' });
  const saved = HookedTransformer.logitBlockBytes;
  try {
    const ids = TEXT.map((t) => t % model.cfg.d_vocab);
    const tokens = tf.tensor2d([ids, ids.slice(3).concat(ids.slice(0, 3))], [2, ids.length], 'int32');
    const logits = model.forward(tokens).logits!;
    // the reference: -log softmax of the full logits at the next token
    const lv = logits.arraySync() as number[][][];
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) {
      for (let p = 0; p < ids.length - 1; p++) {
        const row = lv[b][p];
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
        expected.push(lse - row[(tokens.arraySync() as number[][])[b][p + 1]]);
      }
    }
    HookedTransformer.logitBlockBytes = 4 * 30 * 700; // blocks of ~700 of the 8,192 columns for 30 tokens
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const loss = model.forward(tokens, { returnType: 'loss', lossPerToken: true }).loss!;
      const got = Array.from(loss.dataSync());
      got.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 2e-4, `token ${k}: ${v} vs ${expected[k]}`));
      loss.dispose();
    }
    assert.strictEqual(tf.memory().numTensors, before, 'no tensors leak across 16-bit passes');
    tf.dispose([logits, tokens]);
  } finally {
    HookedTransformer.logitBlockBytes = saved;
    model.dispose();
  }
});

test('dtype auto keeps float32 when it fits and the checkpoint\'s 16 bits when not; a model that cannot fit fails before loading', async () => {
  const small = await HookedTransformer.fromPretrained('mistralai/Mistral-7B-v0.1');
  assert.strictEqual(small.dtype, 'float32');
  small.dispose();
  const m = await HookedTransformer.fromPretrained('mistralai/Mistral-7B-v0.1', { dtype: 'bfloat16' });
  const bf16 = HookedTransformer.planLoad(m.cfg, new Set(['BF16']), { dtype: 'bfloat16' });
  m.dispose();
  const mib = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)}M`;
  try {
    // room for the 16-bit weights and the loading work, not for float32
    process.env.SAELAB_MAX_MEMORY = mib(process.memoryUsage.rss() + bf16.workingBytes + 1.5 * bf16.weightBytes);
    const auto = HookedTransformer.planLoad(m.cfg, new Set(['BF16']));
    assert.strictEqual(auto.dtype, 'bfloat16');
    assert.match(auto.reason, /does not fit/);
    process.env.SAELAB_MAX_MEMORY = mib(process.memoryUsage.rss() + 2 ** 20);
    await assert.rejects(HookedTransformer.fromPretrained('mistralai/Mistral-7B-v0.1'),
      /mistralai\/Mistral-7B-v0.1 needs [\d.]+ [MGk]B in bfloat16 \(\+ [\d.]+ [MGk]B while loading\), [\d.]+ [MGk]?B free \(limit .* from SAELAB_MAX_MEMORY=\d+M/);
  } finally {
    delete process.env.SAELAB_MAX_MEMORY;
  }
  assert.strictEqual(parseBytes('20G'), 20 * 2 ** 30);
  assert.strictEqual(parseBytes('512MiB'), 512 * 2 ** 20);
  assert.throws(() => parseBytes('lots'), /not a size/);
});

test('castWeights rounds float32 weights once and widens them back exactly', async () => {
  const m = await HookedTransformer.fromPretrained('openai-community/gpt2', { dtype: 'float32' });
  const before = m.weight('blocks.3.mlp.W_in');
  m.castWeights('bfloat16');
  assert.strictEqual(m.params.size, 0);
  const after = m.weight('blocks.3.mlp.W_in');
  const b = before.dataSync();
  const a = after.dataSync();
  for (let i = 0; i < b.length; i += 97) assert.strictEqual(a[i], roundBf16(b[i]));
  m.castWeights('float32');
  assert.deepStrictEqual(Array.from(m.weight('blocks.3.mlp.W_in').dataSync().slice(0, 50)), Array.from(a.slice(0, 50)));
  tf.dispose([before, after]);
  m.dispose();
});
