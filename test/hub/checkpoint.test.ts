import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { resolveCheckpoint, writeShippedRepo } from '../../lib/hub';
import { writeShardedSafetensors } from '../../lib/io';
import { setupBackend, tmpDir } from '../helpers';
import { FakeHub } from './fake-hub';

before(setupBackend);

/** BF16 bits -> float via DataView (independent of the library). */
const bf16 = (b: number) => { const dv = new DataView(new ArrayBuffer(4)); dv.setUint16(0, b); return dv.getFloat32(0); };

test('resolveCheckpoint fetches config, index and exactly the listed BF16 shards, and loads float32 values', async () => {
  const src = tmpDir();
  const bits = { a: Uint16Array.from([0x3f80, 0xc000, 0x0001, 0x7f80]), b: Uint16Array.from([0x4049, 0xbf00]), c: Uint16Array.from([0x3e80, 0x3e80, 0x3e80]) };
  writeShardedSafetensors(src, {
    'w.a': { dtype: 'BF16', shape: [2, 2], data: bits.a },
    'w.b': { dtype: 'BF16', shape: [2], data: bits.b },
    'w.c': { dtype: 'BF16', shape: [3], data: bits.c },
  }, { maxShardBytes: 8 });
  const files: Record<string, Buffer> = { 'config.json': Buffer.from('{"d_model": 2}'), 'consolidated.safetensors': Buffer.from('decoy, must not be fetched') };
  for (const f of fs.readdirSync(src)) files[f] = fs.readFileSync(path.join(src, f));
  const commit = 'e'.repeat(40);
  const hub = new FakeHub([{ type: 'model', id: 'org/bf16', refs: { main: commit }, commits: { [commit]: files } }]);
  const endpoint = await hub.start();
  const cache = tmpDir();
  try {
    const r = await resolveCheckpoint('org/bf16', { endpoint, cacheDir: cache, shippedCacheDirs: [] });
    assert.strictEqual(r.commit, commit);
    assert.deepStrictEqual(fs.readdirSync(r.dir).sort(), ['config.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
    const t = r.weights.get('w.a');
    assert.deepStrictEqual([...t.dataSync()], [...bits.a].map(bf16));
    assert.deepStrictEqual(t.shape, [2, 2]);
    t.dispose();
    assert.deepStrictEqual([...r.weights.getFloat32('w.c')], [0.25, 0.25, 0.25]);
    r.weights.close();
  } finally {
    await hub.stop();
  }
  // the same call through a shipped cache, offline
  const shipped = tmpDir();
  await writeShippedRepo(shipped, 'saelab/demo-base', 'step500', Object.fromEntries(Object.entries(files).filter(([k]) => !k.startsWith('consolidated'))));
  const s = await resolveCheckpoint('saelab/demo-base', { revision: 'step500', cacheDir: tmpDir(), shippedCacheDirs: [shipped], offline: true });
  assert.strictEqual(s.source, 'shipped');
  assert.deepStrictEqual([...s.weights.getFloat32('w.b')], [...bits.b].map(bf16));
  s.weights.close();
});
