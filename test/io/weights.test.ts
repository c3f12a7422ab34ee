import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadWeights, writeShardedSafetensors, writeSafetensors, SAFETENSORS_INDEX } from '../../lib/io';
import { setupBackend, tmpDir } from '../helpers';
import { mulberry32 } from '../../lib/data/random';

before(setupBackend);

/** Reference BF16 -> F32: the 16 bits become the high half of an IEEE float32 (via DataView, not the library). */
function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const dv = new DataView(new ArrayBuffer(4));
  return Float32Array.from(bits, (b) => { dv.setUint32(0, b << 16); return dv.getFloat32(0); });
}

function sameFloats(a: Float32Array, b: Float32Array, label: string): void {
  assert.strictEqual(a.length, b.length, label);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i])) assert.ok(Number.isNaN(a[i]), `${label}[${i}] NaN`);
    else assert.ok(Object.is(a[i], b[i]), `${label}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

test('a folder of sharded BF16 safetensors loads to the float32 values of a BF16->F32 conversion', async () => {
  const dir = tmpDir();
  // random bit patterns plus the special cases: +-0, subnormal, +-inf, NaN, max finite
  const rand = mulberry32(12345);
  const rnd = () => Math.floor(rand() * 65536);
  const specials = [0x0000, 0x8000, 0x0001, 0x7f80, 0xff80, 0x7fc0, 0x7f7f, 0x3f80];
  const shapes: Record<string, number[]> = { 'embed.W_E': [16, 8], 'blocks.0.attn.W_Q': [8, 8], 'blocks.0.ln1.w': [8], 'blocks.1.mlp.W_in': [8, 32], 'unembed.W_U': [8, 16] };
  const bits: Record<string, Uint16Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    bits[name] = Uint16Array.from({ length: n }, (_, i) => (i < specials.length ? specials[i] : rnd()));
  }
  const tensors = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => [name, { dtype: 'BF16' as const, shape, data: bits[name] }]));
  const files = writeShardedSafetensors(dir, tensors, { maxShardBytes: 600 });
  assert.ok(files.length >= 3, `several shards (${files.length})`);
  assert.deepStrictEqual(files[0], `model-00001-of-${String(files.length).padStart(5, '0')}.safetensors`);
  const index = JSON.parse(fs.readFileSync(path.join(dir, SAFETENSORS_INDEX), 'utf8'));
  assert.strictEqual(index.metadata.total_size, Object.values(bits).reduce((a, b) => a + 2 * b.length, 0));

  const w = loadWeights(dir);
  try {
    assert.deepStrictEqual(w.names().sort(), Object.keys(shapes).sort());
    for (const [name, shape] of Object.entries(shapes)) {
      assert.deepStrictEqual(w.shape(name), shape);
      assert.strictEqual(w.dtype(name), 'BF16');
      const t = w.get(name);
      assert.strictEqual(t.dtype, 'float32');
      assert.deepStrictEqual(t.shape, shape);
      sameFloats(t.dataSync() as Float32Array, bf16BitsToF32(bits[name]), name);
      t.dispose();
    }
    assert.ok(!w.has('nope'));
    assert.throws(() => w.get('nope'), /no tensor 'nope' in the weight_map/);
  } finally {
    w.close();
  }
});

test('single-file checkpoints: ints load as int32, I64 beyond int32 is an error', () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'model.safetensors'), {
    a: { dtype: 'I64', shape: [3], data: new BigInt64Array([1n, -2n, 3n]) },
    b: { dtype: 'F16', shape: [2], data: [0.5, -2] },
    big: { dtype: 'I64', shape: [1], data: new BigInt64Array([1n << 40n]) },
  });
  const w = loadWeights(dir);
  const a = w.get('a');
  assert.strictEqual(a.dtype, 'int32');
  assert.deepStrictEqual([...a.dataSync()], [1, -2, 3]);
  assert.deepStrictEqual([...w.getFloat32('b')], [0.5, -2]);
  assert.throws(() => w.get('big'), /does not fit in int32/);
  a.dispose();
  w.close();
});

test('index errors name the file and the problem', () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), { x: { shape: [2], data: new Float32Array([1, 2]) } });
  const idx = path.join(dir, SAFETENSORS_INDEX);
  fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00002-of-00002.safetensors' } }));
  assert.throws(() => loadWeights(dir), /shard 'model-00002-of-00002\.safetensors' listed in weight_map is missing/);
  fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: 'model-00001-of-00002.safetensors', z: 'model-00001-of-00002.safetensors' } }));
  assert.throws(() => loadWeights(dir), /weight_map says 'z' is in 'model-00001-of-00002\.safetensors', but that shard has no such tensor/);
  fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: '../x.safetensors' } }));
  assert.throws(() => loadWeights(dir), /points outside the checkpoint folder/);
  fs.writeFileSync(idx, '{"weight_map": ');
  assert.throws(() => loadWeights(dir), /model\.safetensors\.index\.json: index is not valid JSON/);
  fs.writeFileSync(idx, JSON.stringify({ weight_map: { x: 'model-00001-of-00002.safetensors' } }));
  const w = loadWeights(dir);
  assert.deepStrictEqual([...w.getFloat32('x')], [1, 2]);
  w.close();
  assert.throws(() => loadWeights(tmpDir()), /has no model\.safetensors\.index\.json or model\.safetensors/);
});
