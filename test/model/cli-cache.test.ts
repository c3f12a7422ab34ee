import { before, test } from 'node:test';
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { setupBackend, tmpDir, REPO_ROOT } from '../helpers';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { cacheChunking, command, parseTokenRows, stopLayerFor } from '../../lib/cli/commands/cache';
import { FIXTURES, assertTensorClose } from './util';

before(setupBackend);

test('saelab cache writes unprocessed hooks and logits equal to the torch reference', async () => {
  const golden = SafetensorsFile.open(path.join(FIXTURES, 'gpt2_golden.safetensors'));
  const rows = golden.tensor('tokens').arraySync() as number[][];
  const out = path.join(tmpDir(), 'acts.safetensors');
  const hooks = ['blocks.0.attn.hook_z', 'blocks.1.hook_resid_post', 'blocks.0.attn.hook_pattern'];
  const code = await command.run(['--model', path.join(FIXTURES, 'gpt2'), '--tokens', rows.map((r) => r.join(',')).join(';'), '--hooks', hooks.join(','), '--no-processing', '--out', out]);
  assert.strictEqual(code, 0);
  const f = SafetensorsFile.open(out);
  assert.deepStrictEqual(f.names().sort(), [...hooks, 'logits'].sort());
  assert.deepStrictEqual(f.info('blocks.0.attn.hook_z').shape, [2, 6, 4, 4]);
  for (const name of [...hooks, 'logits']) {
    assert.strictEqual(f.info(name).dtype, 'F32');
    assertTensorClose(f.readFloat32(name), golden.readFloat32(name), 2e-4, 2e-4, name);
  }
  f.close();
  golden.close();
});

test('saelab cache through the binary: processed residual is the centred reference; errors are clear', () => {
  const golden = SafetensorsFile.open(path.join(FIXTURES, 'gpt_neox_golden.safetensors'));
  const rows = golden.tensor('tokens').arraySync() as number[][];
  const out = path.join(tmpDir(), 'neox.safetensors');
  const bin = path.join(REPO_ROOT, 'bin', 'saelab.js');
  execFileSync(process.execPath, [bin, 'cache', '--model', path.join(FIXTURES, 'gpt_neox'), '--tokens', rows.map((r) => r.join(',')).join(';'), '--hooks', 'blocks.1.hook_resid_post', '--out', out], { stdio: 'pipe' });
  const f = SafetensorsFile.open(out);
  const ref = golden.readFloat32('blocks.1.hook_resid_post');
  const d = 16;
  const centred = new Float32Array(ref.length);
  for (let i = 0; i < ref.length; i += d) {
    let m = 0;
    for (let j = 0; j < d; j++) m += ref[i + j] / d;
    for (let j = 0; j < d; j++) centred[i + j] = ref[i + j] - m;
  }
  assertTensorClose(f.readFloat32('blocks.1.hook_resid_post'), centred, 2e-4, 2e-4, 'processed resid');
  f.close();
  golden.close();
  assert.throws(() => execFileSync(process.execPath, [bin, 'cache', '--model', path.join(FIXTURES, 'gpt_neox'), '--tokens', '1,2;3,4', '--hooks', 'blocks.0.hook_resid_mid', '--out', out], { stdio: 'pipe' }),
    (e: any) => /unknown hook name 'blocks\.0\.hook_resid_mid'.*blocks\.0\.hook_resid_pre/s.test(String(e.stderr)));
  assert.throws(() => parseTokenRows('1,2;3'), /equal lengths/);
  assert.throws(() => parseTokenRows('1,x'), /'x' is not a non-negative integer/);
  assert.deepStrictEqual(parseTokenRows('1, 2; 3,4'), [[1, 2], [3, 4]]);
});

test('saelab cache --no-logits writes only the hooks, equal to the full run\'s (the pass stops after their block)', async () => {
  const golden = SafetensorsFile.open(path.join(FIXTURES, 'gpt2_golden.safetensors'));
  const rows = golden.tensor('tokens').arraySync() as number[][];
  const out = path.join(tmpDir(), 'nologits.safetensors');
  const hooks = ['blocks.0.attn.hook_z', 'blocks.0.hook_resid_post'];
  const code = await command.run(['--model', path.join(FIXTURES, 'gpt2'), '--tokens', rows.map((r) => r.join(',')).join(';'), '--hooks', hooks.join(','), '--no-processing', '--no-logits', '--out', out]);
  assert.strictEqual(code, 0);
  const f = SafetensorsFile.open(out);
  assert.deepStrictEqual(f.names().sort(), [...hooks].sort());
  for (const name of hooks) assertTensorClose(f.readFloat32(name), golden.readFloat32(name), 2e-4, 2e-4, name);
  f.close();
  golden.close();
  assert.strictEqual(stopLayerFor(['blocks.0.attn.hook_z', 'blocks.3.hook_resid_pre'], 12), 4);
  assert.strictEqual(stopLayerFor(['hook_embed'], 12), 0);
  assert.strictEqual(stopLayerFor(['blocks.1.hook_resid_pre', 'ln_final.hook_normalized'], 12), undefined);
});

test('saelab cache makes the logits chunk by chunk from the final residual: the same values, in place, with and without ln_final hooks', async () => {
  const golden = SafetensorsFile.open(path.join(FIXTURES, 'gpt2_golden.safetensors'));
  const rows = golden.tensor('tokens').arraySync() as number[][];
  const want = golden.readFloat32('logits'); // [2, P, V] from the torch reference
  const many = [rows[0], rows[1], rows[0], rows[1], rows[0]]; // 5 sequences: chunks of 2, 2 and 1
  const [P, V] = golden.info('logits').shape.slice(1);
  const saved = cacheChunking.logitFloatsPerChunk;
  cacheChunking.logitFloatsPerChunk = 2 * P * V;
  try {
    for (const hooks of [['blocks.1.hook_resid_pre'], ['blocks.1.hook_resid_post', 'ln_final.hook_normalized']]) {
      const out = path.join(tmpDir(), 'chunks.safetensors');
      const code = await command.run(['--model', path.join(FIXTURES, 'gpt2'), '--tokens', many.map((r) => r.join(',')).join(';'), '--hooks', hooks.join(','), '--no-processing', '--out', out]);
      assert.strictEqual(code, 0);
      const f = SafetensorsFile.open(out);
      assert.deepStrictEqual(f.info('logits').shape, [5, P, V]);
      const got = f.readFloat32('logits');
      for (let s = 0; s < 5; s++) {
        const ref = want.subarray((s % 2) * P * V, (s % 2 + 1) * P * V);
        assertTensorClose(got.subarray(s * P * V, (s + 1) * P * V), ref, 2e-4, 2e-4, `logits of sequence ${s} with ${hooks}`);
      }
      f.close();
    }
  } finally {
    cacheChunking.logitFloatsPerChunk = saved;
    golden.close();
  }
});
