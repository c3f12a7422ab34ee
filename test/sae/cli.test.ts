/** `saelab sae` through the CLI entry point, on the SAELens-layout fixtures and their numpy reference outputs. */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { main } from '../../lib/cli/main';
import { writeSafetensors, SafetensorsFile } from '../../lib/io/safetensors';
import { setupBackend, assertClose, tmpDir, REPO_ROOT } from '../helpers';

before(setupBackend);

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'sae');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));

test('saelab sae writes feature_acts and sae_out for every architecture (batched in chunks of 2 rows)', async () => {
  const dir = tmpDir();
  for (const name of ['v6_jumprelu', 'v6_topk_bf16', 'v6_gated', 'pre6_standard_gpt2style', 'pre6_topk_v5', 'pre6_hook_z']) {
    const e = expected[name];
    const inFile = path.join(dir, `${name}.in.safetensors`);
    const outFile = path.join(dir, `${name}.out.safetensors`);
    writeSafetensors(inFile, { acts: { shape: e.x_shape, data: new Float32Array(e.x.flat(Infinity)) } });
    const code = await main(['sae', '--sae', path.join(FIX, name), '--in', inFile, '--tensor', 'acts', '--out', outFile, '--batch', '2']);
    assert.strictEqual(code, 0, name);
    const f = SafetensorsFile.open(outFile);
    assert.deepStrictEqual(f.info('feature_acts').shape, e.feature_shape, name);
    assert.strictEqual(f.info('feature_acts').dtype, 'F32');
    assert.deepStrictEqual(f.info('sae_out').shape, e.x_shape, name);
    assertClose(f.readFloat32('feature_acts'), e.feature_acts, 1e-4, 1e-4, `${name} feature_acts`);
    assertClose(f.readFloat32('sae_out'), e.sae_out, 1e-4, 1e-4, `${name} sae_out`);
    f.close();
  }
});

test('saelab sae reports a wrong tensor name or width and exits non-zero', async () => {
  const dir = tmpDir();
  const inFile = path.join(dir, 'in.safetensors');
  writeSafetensors(inFile, { acts: { shape: [2, 5], data: new Float32Array(10) } });
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => errors.push(String(m));
  try {
    assert.strictEqual(await main(['sae', '--sae', path.join(FIX, 'v6_gated'), '--in', inFile, '--tensor', 'nope', '--out', path.join(dir, 'o.safetensors')]), 1);
    assert.strictEqual(await main(['sae', '--sae', path.join(FIX, 'v6_gated'), '--in', inFile, '--tensor', 'acts', '--out', path.join(dir, 'o.safetensors')]), 1);
    assert.strictEqual(await main(['sae', '--sae', 'not-a-spec', '--in', inFile, '--tensor', 'acts', '--out', path.join(dir, 'o.safetensors')]), 1);
  } finally {
    console.error = orig;
  }
  assert.match(errors[0], /no tensor 'nope' \(found: acts\)/);
  assert.match(errors[1], /rows have width 5 .* d_in=3/);
  assert.match(errors[2], /neither a folder nor release:saeId/);
  assert.ok(!fs.existsSync(path.join(dir, 'o.safetensors')));
});
