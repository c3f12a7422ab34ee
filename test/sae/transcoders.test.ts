/**
 * Transcoders: folders written by SAELens 6.18's own save_model (test/fixtures/saelens/transcoders, from
 * tools/make_saelens_arch_fixtures.py) load and run in saelab as SAELens's encode and forward do.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose, REPO_ROOT, tmpDir } from '../helpers';
import { SAE, parseSAEConfig } from '../../lib/sae';

before(setupBackend);

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'saelens', 'transcoders');
const EXPECTED = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));
const KINDS = ['transcoder', 'skip_transcoder', 'jumprelu_transcoder'];

for (const kind of KINDS) {
  test(`${kind}: SAELens's folder encodes and predicts the output hook as SAELens does`, async () => {
    const sae = await SAE.load(path.join(DIR, kind));
    const e = EXPECTED[kind];
    assert.strictEqual(sae.cfg.architecture, kind);
    assert.strictEqual(sae.isTranscoder, true);
    assert.strictEqual(sae.cfg.d_out, 5);
    assert.strictEqual(sae.dOut, 5);
    assert.strictEqual(sae.cfg.metadata.hook_name, 'blocks.0.ln2.hook_normalized');
    assert.strictEqual(sae.outputHook, 'blocks.0.hook_mlp_out');
    const x = tf.tensor(e.x, e.x_shape);
    const f = sae.encode(x);
    assert.deepStrictEqual(f.shape, e.feature_shape);
    assertClose(await f.data(), e.feature_acts, 1e-5, 1e-5, `${kind} encode`);
    const y = sae.forward(x);
    assert.deepStrictEqual(y.shape, e.sae_out_shape);
    assertClose(await y.data(), e.sae_out, 1e-5, 1e-5, `${kind} forward`);
    const r = sae.run(x);
    assertClose(await r.saeOut.data(), e.sae_out, 1e-5, 1e-5, `${kind} run`);
    // the error node is output - prediction, so prediction + error gives the true output back
    const truth = tf.randomNormal(e.sae_out_shape, 0, 1, 'float32', 7);
    const withErr = sae.run(x, { withError: true, target: truth });
    assertClose(await tf.add(withErr.saeOut, withErr.error!).data(), await truth.data(), 1e-5, 1e-5, `${kind} prediction + error`);
    assertClose(await sae.errorTerm(x, truth).data(), await withErr.error!.data(), 1e-6, 1e-6);
    assert.throws(() => sae.run(x, { withError: true }), /pass the output hook's activation as target/);
    // folding decoder norms changes the features, not the prediction (W_skip untouched)
    sae.foldWDecNorm();
    assertClose(await sae.forward(x).data(), e.sae_out, 1e-5, 1e-4, `${kind} forward after folding`);
    // saved and reloaded: a SAELens 6 transcoder folder again
    const dir = path.join(tmpDir(), kind);
    await sae.save(dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'cfg.json'), 'utf8'));
    assert.strictEqual(cfg.architecture, kind);
    assert.strictEqual(cfg.d_out, 5);
    assert.strictEqual(cfg.apply_b_dec_to_input, false);
    assert.strictEqual(cfg.metadata.hook_name_out, 'blocks.0.hook_mlp_out');
    const back = await SAE.load(dir);
    assertClose(await back.forward(x).data(), e.sae_out, 1e-5, 1e-4, `${kind} reloaded`);
    tf.dispose([x, f, y, r.featureActs, r.saeOut, truth, withErr.featureActs, withErr.saeOut, withErr.error!]);
    back.dispose();
    sae.dispose();
  });
}

test('skip_transcoder: decode is W_dec alone (as SAELens); forward adds x W_skip^T from the raw input', async () => {
  const sae = await SAE.load(path.join(DIR, 'skip_transcoder'));
  const e = EXPECTED.skip_transcoder;
  const x = tf.tensor2d(e.x, [6, 6]);
  const viaDecode = tf.tidy(() => tf.add(sae.decode(sae.encode(x)), tf.matMul(x, sae.weights.W_skip, false, true)));
  assertClose(await viaDecode.data(), e.sae_out, 1e-5, 1e-5);
  tf.dispose([x, viaDecode]);
  sae.dispose();
});

test('transcoder configs: d_out and hook_name_out are read from pre-6.0 flat dicts too; b_dec on the input is refused', () => {
  const flat = { architecture: 'jumprelu_transcoder', d_in: 4, d_sae: 8, d_out: 3, hook_name: 'blocks.1.ln2.hook_normalized', hook_name_out: 'blocks.1.hook_mlp_out', apply_b_dec_to_input: false };
  const cfg = parseSAEConfig(flat);
  assert.strictEqual(cfg.d_out, 3);
  assert.strictEqual(cfg.metadata.hook_name_out, 'blocks.1.hook_mlp_out');
  assert.throws(() => parseSAEConfig({ ...flat, apply_b_dec_to_input: true }), /apply_b_dec_to_input is not supported for transcoders/);
  // SAELens's dataclass default for a missing d_out is 768; the weights then tell the mismatch
  assert.strictEqual(parseSAEConfig({ ...flat, d_out: undefined }).d_out, 768);
  const w = { W_enc: tf.zeros([4, 8]), W_dec: tf.zeros([8, 3]), b_enc: tf.zeros([8]), b_dec: tf.zeros([3]), threshold: tf.zeros([8]) };
  assert.throws(() => new SAE(parseSAEConfig({ ...flat, d_out: undefined }), w), /W_dec has shape \[8, 3\], expected \[8, 768\] for d_in=4, d_sae=8, d_out=768/);
  tf.dispose(Object.values(w));
});

test('saelab sae on a transcoder writes feature_acts [..., d_sae] and sae_out = its forward [..., d_out]', async () => {
  const { main } = await import('../../lib/cli/main');
  const { writeSafetensors, SafetensorsFile } = await import('../../lib/io/safetensors');
  const dir = tmpDir();
  for (const kind of KINDS) {
    const e = EXPECTED[kind];
    const inFile = path.join(dir, `${kind}.in.safetensors`);
    const outFile = path.join(dir, `${kind}.out.safetensors`);
    writeSafetensors(inFile, { acts: { shape: e.x_shape, data: Float32Array.from(e.x) } });
    assert.strictEqual(await main(['sae', '--sae', path.join(DIR, kind), '--in', inFile, '--tensor', 'acts', '--out', outFile, '--batch', '4']), 0);
    const f = SafetensorsFile.open(outFile);
    assert.deepStrictEqual(f.info('feature_acts').shape, e.feature_shape);
    assert.deepStrictEqual(f.info('sae_out').shape, e.sae_out_shape);
    assertClose(f.readFloat32('feature_acts'), e.feature_acts, 1e-5, 1e-5, `${kind} feature_acts`);
    assertClose(f.readFloat32('sae_out'), e.sae_out, 1e-5, 1e-5, `${kind} sae_out`);
    f.close();
  }
});

test('splicing a transcoder replaces its output hook with its prediction; with the error node the logits are clean', async () => {
  const { HookedTransformer } = await import('../../lib/model');
  const { runWithSAE, runWithCacheAndSAE } = await import('../../lib/sae');
  const m = HookedTransformer.fromConfig({ n_layers: 2, d_model: 8, n_ctx: 16, d_head: 4, d_vocab: 20, act_fn: 'gelu_new' }, { seed: 7 });
  const tokens = tf.tensor2d([[1, 5, 9, 2, 11, 3], [4, 4, 17, 0, 8, 6]], [2, 6], 'int32');
  const inHook = 'blocks.1.ln2.hook_normalized';
  const outHook = 'blocks.1.hook_mlp_out';
  const w = {
    W_enc: tf.randomNormal([8, 12], 0, 0.5, 'float32', 1), W_dec: tf.randomNormal([12, 8], 0, 0.5, 'float32', 2),
    b_enc: tf.randomNormal([12], 0, 0.1, 'float32', 3), b_dec: tf.randomNormal([8], 0, 0.1, 'float32', 4), W_skip: tf.randomNormal([8, 8], 0, 0.3, 'float32', 5),
  };
  const tc = SAE.create({ architecture: 'skip_transcoder', d_in: 8, d_sae: 12, d_out: 8, apply_b_dec_to_input: false, metadata: { hook_name: inHook, hook_name_out: outHook } }, w);
  tf.dispose(Object.values(w));
  // by hand: the MLP output replaced by the transcoder's forward of ln2's output
  const { cache } = m.runWithCache(tokens, { namesFilter: [inHook, outHook] });
  const pred = tc.forward(cache.get(inHook));
  const byHand = m.forward(tokens, { fwdHooks: [[outHook, () => pred]] });
  assertClose(await runWithSAE(m, tc, tokens).logits!.data(), await byHand.logits!.data(), 1e-5, 1e-5);
  const clean = await m.forward(tokens).logits!.data();
  assertClose(await runWithSAE(m, tc, tokens, { includeError: true }).logits!.data(), clean, 1e-4, 1e-4);
  // internals under the output hook: error = true MLP output - prediction
  const res = runWithCacheAndSAE(m, tc, tokens, { includeError: true });
  assertClose(await res.saeCache.get(`${outHook}.hook_sae_error`)!.data(), await tf.sub(cache.get(outHook), pred).data(), 1e-5, 1e-5);
  assertClose(await res.saeCache.get(`${outHook}.hook_sae_input`)!.data(), await cache.get(inHook).data(), 1e-6, 1e-6);
  assert.deepStrictEqual(res.saeCache.get(`${outHook}.hook_sae_acts_post`)!.shape, [2, 6, 12]);
  // a transcoder whose "output" hook comes first cannot predict it
  const backwards = SAE.create({ architecture: 'transcoder', d_in: 8, d_sae: 4, d_out: 8, apply_b_dec_to_input: false, metadata: { hook_name: 'blocks.1.hook_resid_post', hook_name_out: 'blocks.0.hook_mlp_out' } },
    { W_enc: tf.zeros([8, 4]), W_dec: tf.zeros([4, 8]), b_enc: tf.zeros([4]), b_dec: tf.zeros([8]) });
  assert.throws(() => runWithSAE(m, backwards, tokens), /output hook blocks\.0\.hook_mlp_out ran before its input hook blocks\.1\.hook_resid_post/);
  const noOut = SAE.create({ architecture: 'transcoder', d_in: 8, d_sae: 4, d_out: 8, apply_b_dec_to_input: false, metadata: { hook_name: inHook } },
    { W_enc: tf.zeros([8, 4]), W_dec: tf.zeros([4, 8]), b_enc: tf.zeros([4]), b_dec: tf.zeros([8]) });
  assert.throws(() => runWithSAE(m, noOut, tokens), /no hook_name_out/);
  cache.dispose();
  for (const t of res.saeCache.values()) t.dispose();
  tc.dispose();
  backwards.dispose();
  noOut.dispose();
  m.dispose?.();
});
