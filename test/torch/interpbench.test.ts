import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { configFromTransformerLensDict, readTransformerLensConfigPickle } from '../../lib/model/interpbench';
import { loadPickle } from '../../lib/io/pickle';
import { saveTorchStateDict } from '../../lib/io/torch';
import { case3Inputs } from '../../lib/tasks';
import { REPO_ROOT, assertClose, setupBackend, tmpDir } from '../helpers';

before(setupBackend);

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'torch');
type Exp = Record<string, { shape: number[]; values: number[] }> & { tokens: number[][] };

async function checkModelDir(dir: string, hooks: string[]): Promise<HookedTransformer> {
  const exp = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Exp;
  const model = await HookedTransformer.fromPretrained(dir);
  const tokens = tf.tensor2d(exp.tokens, undefined, 'int32');
  const { logits, cache } = model.runWithCache(tokens, { namesFilter: hooks });
  assert.deepStrictEqual(logits!.shape, exp.logits.shape);
  assertClose(await logits!.data() as Float32Array, exp.logits.values, 1e-5, 1e-4, 'logits');
  for (const h of hooks) {
    const e = exp[h];
    const got = tf.tidy(() => tf.slice(cache.get(h), 0, e.shape[0]));
    assert.deepStrictEqual(got.shape, e.shape, h);
    assertClose(await got.data() as Float32Array, e.values, 1e-5, 1e-4, h);
    got.dispose();
  }
  logits!.dispose();
  cache.dispose();
  tokens.dispose();
  return model;
}

test('an InterpBench-layout folder (ll_model.pth + ll_model_cfg.pkl dict) loads to the reference logits and activations', async () => {
  const dir = path.join(FIX, 'interpbench_case3_like');
  const exp = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Exp;
  assert.deepStrictEqual(exp.tokens, case3Inputs(), 'the fixture ran the 320 case-3 inputs');
  const model = await checkModelDir(dir, ['blocks.0.hook_resid_pre', 'blocks.0.attn.hook_pattern', 'blocks.0.mlp.hook_post', 'blocks.1.attn.hook_z', 'blocks.1.hook_resid_post']);
  assert.strictEqual(model.cfg.normalization_type, null);
  assert.strictEqual(model.cfg.d_vocab_out, 1);
  assert.strictEqual(model.cfg.act_fn, 'gelu');
  assert.deepStrictEqual(model.processing, { foldLn: false, centerWritingWeights: false, centerUnembed: false, foldValueBiases: false }, 'no weight processing by default');
  model.dispose();
});

test('a config pickled as a HookedTransformerConfig object with missing keys: relu, d_head x n_heads != d_model, d_vocab_out 2', async () => {
  const dir = path.join(FIX, 'interpbench_relu');
  const model = await checkModelDir(dir, ['blocks.0.attn.hook_pattern', 'blocks.0.mlp.hook_pre', 'blocks.0.hook_resid_post']);
  assert.strictEqual(model.cfg.d_mlp, 40, 'TransformerLens default d_mlp = 4 d_model');
  assert.strictEqual(model.cfg.attn_scale, 2, 'attn_scale -1 -> sqrt(d_head)');
  assert.strictEqual(model.cfg.n_heads * model.cfg.d_head, 12);
  model.dispose();
});

test('config dict conversion: TransformerLens defaults for missing keys, device ignored, unsupported options refused', () => {
  const cfg = configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_head: 4, d_vocab: 10, act_fn: 'gelu', device: 'cuda', dtype: 'float16' });
  assert.strictEqual(cfg.n_heads, 3, 'd_model // d_head');
  assert.strictEqual(cfg.d_mlp, 48);
  assert.strictEqual(cfg.d_vocab_out, 10);
  assert.strictEqual(cfg.normalization_type, 'LN');
  assert.strictEqual(cfg.attn_scale, 2);
  assert.strictEqual(cfg.positional_embedding_type, 'standard');
  assert.strictEqual(cfg.initializer_range, 0.8 / Math.sqrt(12));
  assert.strictEqual(cfg.eps, 1e-5);
  assert.strictEqual(cfg.default_prepend_bos, true);
  assert.strictEqual(configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_head: 4, d_vocab: 10, act_fn: 'gelu', init_mode: 'xavier_normal' }).initializer_range, 1);
  const from3 = configFromTransformerLensDict(loadPickle(path.join(FIX, 'll_model_cfg.p4.pkl')) as Record<string, unknown>, 'p4');
  assert.strictEqual(from3.attn_scale, Math.sqrt(3));
  assert.strictEqual(from3.n_heads, 4);
  assert.throws(() => configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_vocab: 10, act_fn: 'gelu' }, 'x.pkl'), /x\.pkl: missing required field 'd_head'/);
  assert.throws(() => configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_head: 4, d_vocab: 10 }, 'x.pkl'), /x\.pkl: act_fn must be specified/);
  assert.throws(() => configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_head: 4, act_fn: 'relu' }, 'x.pkl'), /x\.pkl: d_vocab is not set/);
  assert.throws(() => configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_head: 4, d_vocab: 5, act_fn: 'relu', attention_dir: 'bidirectional' }, 'x.pkl'),
    /x\.pkl: attention_dir="bidirectional" is not supported/);
  assert.throws(() => configFromTransformerLensDict({ n_layers: 1, d_model: 12, n_ctx: 8, d_head: 4, d_vocab: 5, act_fn: 'relu', positional_embedding_type: 'shortformer' }, 'x.pkl'),
    /positional_embedding_type='shortformer' is not supported/);
});

test('a checkpoint whose keys do not match its config is refused like a strict load_state_dict, naming the file', async () => {
  const src = path.join(FIX, 'interpbench_relu');
  const dir = tmpDir();
  fs.copyFileSync(path.join(src, 'll_model_cfg.pkl'), path.join(dir, 'll_model_cfg.pkl'));
  const cfgDict = readTransformerLensConfigPickle(path.join(dir, 'll_model_cfg.pkl'));
  assert.strictEqual(cfgDict.device, 'cuda:0');
  await saveTorchStateDict(path.join(dir, 'll_model.pth'), { 'embed.W_E': { shape: [7, 10], data: new Float32Array(70) } });
  await assert.rejects(HookedTransformer.fromPretrained(dir), (e: Error) => e.message.includes(path.join(dir, 'll_model.pth')) && /missing key 'pos_embed\.W_pos'/.test(e.message));
});
