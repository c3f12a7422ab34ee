import { test, before, after } from 'node:test';
import * as assert from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {
  makeStandins, planStandins, configsFor, planWrites, checkpointTensors, scaledConfig, MODEL_REPOS, tensorBytes, tokenizerFiles, STANDIN_MARKER,
} from '../../lib/standins';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { loadTokenizer, loadTokenizerFromDir } from '../../lib/tokenizers/tokenizer';
import { SAE } from '../../lib/sae/sae';
import { textsFromDataset } from '../../lib/data/sources';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { resolveRepo } from '../../lib/hub/resolve';
import { setupBackend, tmpDir } from '../helpers';

const cache = tmpDir('saelab-standins-');
const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
const quiet = () => undefined;

before(async () => {
  await setupBackend();
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_HUB_OFFLINE = '1';
  process.env.SAELAB_PROGRESS = 'off';
  for (const like of ['gpt2-portuguese', 'gemma-2b-python', 'mistral-7b-metamath', 'pythia-70m-circuits']) {
    await makeStandins({ like, cacheRoot: cache, scale: 'tiny', seed: 0, datasetWords: 3000, log: quiet });
  }
});

after(() => {
  if (saved.cache === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved.cache;
  if (saved.offline === undefined) delete process.env.HF_HUB_OFFLINE; else process.env.HF_HUB_OFFLINE = saved.offline;
});

/** Parameter counts of the real checkpoints (model cards / transformers' num_parameters()), buffers excluded. */
const PUBLISHED_PARAMS: Record<string, number> = {
  'openai-community/gpt2': 124_439_808,
  'EleutherAI/pythia-70m-deduped': 70_426_624,
  'google/gemma-2b': 2_506_172_416,
  'mistralai/Mistral-7B-v0.1': 7_241_732_096,
  // one added PAD row in the embedding and in lm_head
  'meta-math/MetaMath-Mistral-7B': 7_241_732_096 + 2 * 4096,
};

test('full-scale stand-ins have the published parameter counts, dtypes and shard counts', () => {
  for (const [repo, params] of Object.entries(PUBLISHED_PARAMS)) {
    const spec = MODEL_REPOS[repo];
    const ts = checkpointTensors(spec, scaledConfig(spec, 'full')).filter((t) => t.init.kind === 'uniform' || t.init.kind === 'const');
    assert.strictEqual(ts.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0), params, repo);
  }
  const plan = planStandins(configsFor('mistral-7b'));
  const writes = planWrites(plan, { cacheRoot: cache, scale: 'full', seed: 0 });
  const files = (repo: string) => writes.find((w) => w.repoId === repo)!.files.map((f) => f.path);
  assert.deepStrictEqual(files('mistralai/Mistral-7B-v0.1').filter((f) => f.endsWith('.safetensors')), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  // 7,241,732,096 BF16 values
  const bytes = writes.find((w) => w.repoId === 'mistralai/Mistral-7B-v0.1')!.files.filter((f) => f.path.endsWith('.safetensors')).reduce((s, f) => s + f.bytes, 0);
  assert.strictEqual(bytes, 2 * 7_241_732_096);
  const sae = writes.find((w) => w.repoId === 'JoshEngels/Mistral-7B-Residual-Stream-SAEs')!;
  assert.deepStrictEqual(sae.files.map((f) => f.path), ['mistral_7b_layer_8/cfg.json', 'README.md']);
  const gemma = planWrites(planStandins(configsFor('gemma-2b')), { cacheRoot: cache, scale: 'full', seed: 0 });
  assert.deepStrictEqual(gemma.find((w) => w.repoId === 'google/gemma-2b')!.files.filter((f) => f.path.endsWith('.safetensors')).map((f) => f.path), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  const gpt2 = MODEL_REPOS['openai-community/gpt2'];
  assert.ok(checkpointTensors(gpt2, gpt2.config).every((t) => t.dtype === 'F32'));
  assert.ok(checkpointTensors(MODEL_REPOS['google/gemma-2b'], MODEL_REPOS['google/gemma-2b'].config).every((t) => t.dtype === 'BF16'));
});

test('the presets name the real repos, revisions, SAE ids and datasets', () => {
  const p = planStandins(configsFor('pythia-70m-deduped'));
  assert.deepStrictEqual([...p.models.keys()], ['EleutherAI/pythia-70m-deduped']);
  assert.deepStrictEqual([...p.models.get('EleutherAI/pythia-70m-deduped')!].sort(), ['main', 'step0', 'step1000', 'step10000', 'step143000', 'step33000', 'step5000', 'step66000']);
  assert.deepStrictEqual([...p.saes.get('pythia-70m-deduped-res-sm')!].sort(), ['blocks.0.hook_resid_post', 'blocks.0.hook_resid_pre', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post', 'blocks.3.hook_resid_post', 'blocks.4.hook_resid_post', 'blocks.5.hook_resid_post']);
  const g = planStandins(configsFor('gpt2'));
  assert.deepStrictEqual([...g.models.keys()].sort(), ['openai-community/gpt2', 'pierreguillou/gpt2-small-portuguese']);
  assert.strictEqual(g.saes.get('gpt2-small-res-jb')!.size, 12);
  assert.deepStrictEqual([...g.datasets.keys()].sort(), ['NeelNanda/pile-10k', 'Skylion007/openwebtext']);
  // the cross-layer preset's 17.5M tokens plus its graph contexts, one word per token and a shuffle margin
  assert.ok(g.datasets.get('NeelNanda/pile-10k')! >= 17_500_000 + 1_048_576);
  assert.throws(() => configsFor('llama-7b'), /neither a model family/);
});

test('tokenizers have the real vocabulary sizes and the families\' special tokens', () => {
  const dir = tmpDir();
  const check = (kind: Parameters<typeof tokenizerFiles>[0], size: number, bos: string, bosId: number) => {
    const sub = fs.mkdtempSync(path.join(dir, 't'));
    for (const [f, text] of Object.entries(tokenizerFiles(kind))) fs.writeFileSync(path.join(sub, f), text);
    const tok = loadTokenizerFromDir(sub);
    assert.strictEqual(tok.vocabSize, size, `${kind.kind} size`);
    assert.strictEqual(tok.bosToken, bos);
    assert.strictEqual(tok.bosTokenId, bosId);
    const text = 'The committee met on Tuesday, and 42 members voted.\nNaïve café.';
    assert.strictEqual(tok.decode(tok.encodeRaw(text)), text, `${kind.kind} round trip`);
    return tok;
  };
  check({ kind: 'gpt2' }, 50257, '<|endoftext|>', 50256);
  check({ kind: 'neox', size: 50277 }, 50277, '<|endoftext|>', 0);
  const pt = check({ kind: 'gpt2-shuffled', seed: 351 }, 50257, '<|endoftext|>', 0);
  assert.notDeepStrictEqual(pt.encodeRaw('The committee'), [464, 5583]);
  const mistral = check({ kind: 'sentencepiece', style: 'llama', size: 32000 }, 32000, '<s>', 1);
  // newline and an unseen character go through byte fallback
  assert.ok(mistral.encodeRaw('a\nb').includes(3 + 0x0a));
  check({ kind: 'sentencepiece', style: 'llama', size: 32000, extraTokens: ['[PAD]'] }, 32001, '<s>', 1);
  const gemma = check({ kind: 'sentencepiece', style: 'gemma', size: 256000 }, 256000, '<bos>', 2);
  assert.strictEqual(gemma.padTokenId, 0);
});

test('tiny stand-ins load offline through the hub cache with their families\' structure', async () => {
  const expect: Record<string, Partial<Record<string, unknown>>> = {
    'openai-community/gpt2': { d_model: 64, n_layers: 12, d_vocab: 50257, normalization_type: 'LNPre' },
    'pierreguillou/gpt2-small-portuguese': { d_model: 64, d_vocab: 50257 },
    'google/gemma-2b': { d_model: 64, n_layers: 18, n_heads: 4, n_key_value_heads: 1, d_vocab: 8192 },
    'mistralai/Mistral-7B-v0.1': { d_model: 64, n_layers: 32, n_heads: 8, n_key_value_heads: 2, window_size: 32, use_local_attn: true, d_vocab: 4096 },
    'meta-math/MetaMath-Mistral-7B': { d_vocab: 4097 },
    'EleutherAI/pythia-70m-deduped': { d_model: 64, n_layers: 6, rotary_dim: 4, parallel_attn_mlp: true, d_vocab: 50304 },
  };
  for (const [repo, fields] of Object.entries(expect)) {
    const model = await HookedTransformer.fromPretrained(repo);
    try {
      assert.ok(model.source!.dir.startsWith(cache), `${repo} came from the stand-in cache`);
      for (const [k, v] of Object.entries(fields)) assert.strictEqual((model.cfg as unknown as Record<string, unknown>)[k], v, `${repo} ${k}`);
      const tok = await loadTokenizer(repo);
      const ids = tok.toIds('It was a bright cold day in April, and the clocks were striking thirteen.', true);
      const out = model.runWithCache(tf.tensor2d([ids], [1, ids.length], 'int32'), { returnType: 'loss', namesFilter: (n: string) => n.endsWith('hook_resid_post') });
      const loss = (out.loss as tf.Tensor).dataSync()[0];
      // random logits of rms ~1 over V tokens: the loss is near ln V
      assert.ok(Number.isFinite(loss) && Math.abs(loss - Math.log(model.cfg.d_vocab)) < 2, `${repo} loss ${loss}`);
      const last = out.cache.get(`blocks.${model.cfg.n_layers - 1}.hook_resid_post`);
      const norm = tf.tidy(() => tf.mean(tf.norm(last, 'euclidean', -1)).dataSync()[0]);
      assert.ok(norm > 1 && norm < 20 * Math.sqrt(model.cfg.d_model), `${repo} residual norm ${norm}`);
      out.cache.dispose();
      tf.dispose([out.loss as tf.Tensor]);
    } finally {
      model.dispose();
    }
  }
  for (const [release, id, dIn] of [['gpt2-small-res-jb', 'blocks.6.hook_resid_pre', 64], ['gemma-2b-res-jb', 'blocks.6.hook_resid_post', 64], ['mistral-7b-res-wg', 'blocks.8.hook_resid_pre', 64], ['pythia-70m-deduped-res-sm', 'blocks.3.hook_resid_post', 64]] as const) {
    const sae = await SAE.fromPretrained(release, id);
    assert.strictEqual(sae.cfg.d_in, dIn);
    assert.strictEqual(sae.cfg.d_sae, 8 * dIn);
    assert.strictEqual(sae.cfg.metadata.hook_name, id);
    if (release === 'mistral-7b-res-wg') assert.strictEqual(sae.cfg.normalize_activations, 'constant_norm_rescale');
    sae.dispose();
  }
  for (const ds of ['Skylion007/openwebtext', 'ctigges/openwebtext-gemma-1024-cl', 'monology/pile-uncopyrighted', 'NeelNanda/pile-10k']) {
    let n = 0;
    for await (const t of textsFromDataset(ds, { split: 'train' })) { assert.ok(t.length > 100); if (++n === 3) break; }
    assert.strictEqual(n, 3, ds);
  }
});

test('the sharded checkpoints have an index naming every tensor, in the hub dtype', async () => {
  const r = await resolveRepo('google/gemma-2b', { files: ['model.safetensors.index.json'] });
  const index = JSON.parse(fs.readFileSync(path.join(r.dir, 'model.safetensors.index.json'), 'utf8'));
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  assert.deepStrictEqual(shards, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  let total = 0;
  for (const s of shards) {
    const f = SafetensorsFile.open(path.join(r.dir, s as string));
    for (const n of f.names()) { assert.strictEqual(index.weight_map[n], s); assert.strictEqual(f.info(n).dtype, 'BF16'); total += f.info(n).byteLength; }
    f.close();
  }
  assert.strictEqual(index.metadata.total_size, total);
});

test('a finetune stand-in is its base plus a small perturbation; added vocabulary rows are new', async () => {
  const read = async (repo: string, name: string) => {
    const r = await resolveRepo(repo, { files: ['config.json'] });
    const index = path.join(r.dir, 'model.safetensors.index.json');
    const file = fs.existsSync(index) ? JSON.parse(fs.readFileSync(index, 'utf8')).weight_map[name] : 'model.safetensors';
    const f = SafetensorsFile.open(path.join(r.dir, file));
    try { return { values: f.readFloat32(name), shape: f.info(name).shape }; } finally { f.close(); }
  };
  const base = await read('openai-community/gpt2', 'h.0.mlp.c_fc.weight');
  const ft = await read('pierreguillou/gpt2-small-portuguese', 'transformer.h.0.mlp.c_fc.weight');
  let d2 = 0; let b2 = 0;
  for (let i = 0; i < base.values.length; i++) { d2 += (ft.values[i] - base.values[i]) ** 2; b2 += base.values[i] ** 2; }
  // the perturbation has 0.15 of the base's std
  assert.ok(Math.abs(Math.sqrt(d2 / b2) - 0.15) < 0.01, `relative perturbation ${Math.sqrt(d2 / b2)}`);
  const mb = await read('mistralai/Mistral-7B-v0.1', 'model.embed_tokens.weight');
  const mf = await read('meta-math/MetaMath-Mistral-7B', 'model.embed_tokens.weight');
  assert.deepStrictEqual(mf.shape, [4097, 64]);
  assert.deepStrictEqual(mb.shape, [4096, 64]);
});

test('existing stand-ins are kept, a removed file is rewritten identically, and a real repo is never touched', async () => {
  const r = await resolveRepo('mistralai/Mistral-7B-v0.1', { files: ['config.json'] });
  const shard = path.join(r.dir, 'model-00002-of-00002.safetensors');
  const sha = (f: string) => crypto.createHash('sha1').update(fs.readFileSync(f)).digest('hex');
  const before = sha(shard);
  fs.rmSync(shard);
  const res = await makeStandins({ like: 'mistral-7b-metamath', cacheRoot: cache, scale: 'tiny', seed: 0, datasetWords: 3000, log: quiet });
  assert.strictEqual(sha(shard), before);
  assert.strictEqual(res.repos.filter((x) => x.written > 0).length, 1);
  // a hub cache holding the real gpt2 (no stand-in marker): refused, nothing changed
  const real = tmpDir();
  const storage = path.join(real, 'models--openai-community--gpt2');
  const commit = 'a'.repeat(40);
  fs.mkdirSync(path.join(storage, 'snapshots', commit), { recursive: true });
  fs.writeFileSync(path.join(storage, 'snapshots', commit, 'config.json'), '{"real": true}');
  fs.mkdirSync(path.join(storage, 'refs'));
  fs.writeFileSync(path.join(storage, 'refs', 'main'), commit);
  await assert.rejects(makeStandins({ like: 'gpt2-portuguese', cacheRoot: real, scale: 'tiny', seed: 0, datasetWords: 3000, log: quiet }), /not a saelab stand-in/);
  assert.strictEqual(fs.readFileSync(path.join(storage, 'refs', 'main'), 'utf8'), commit);
  assert.deepStrictEqual(fs.readdirSync(path.join(storage, 'snapshots')), [commit]);
  assert.ok(fs.existsSync(path.join(r.dir, STANDIN_MARKER)));
  // another seed: other contents, other commits
  const other = planWrites(planStandins(configsFor('mistral-7b-metamath')), { cacheRoot: cache, scale: 'tiny', seed: 1 });
  const same = planWrites(planStandins(configsFor('mistral-7b-metamath')), { cacheRoot: cache, scale: 'tiny', seed: 0 });
  assert.notStrictEqual(JSON.stringify(other[0].identity), JSON.stringify(same[0].identity));
  assert.ok(tensorBytes({ name: 'x', shape: [2, 3], dtype: 'BF16', init: { kind: 'const', value: 0 } }) === 12);
});
