import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensors, SafetensorsFile, loadSafetensors } from '../../lib/io/safetensors';
import { f32ToBf16, f32ToF16, f16ToF32 } from '../../lib/io/dtypes';
import { tmpDir, assertClose, REPO_ROOT } from '../helpers';

test('safetensors round trip for every dtype, header layout as the format defines', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.safetensors');
  writeSafetensors(file, {
    f32: { shape: [2, 2], data: new Float32Array([1, -2.5, 3, 1e-3]) },
    f16: { dtype: 'F16', shape: [3], data: [1, 0.5, -65504] },
    bf16: { dtype: 'BF16', shape: [2], data: [1.5, -3] },
    i64: { dtype: 'I64', shape: [2], data: [7, -9] },
    b: { dtype: 'BOOL', shape: [2], data: [1, 0] },
  }, { format: 'pt' });
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  assert.strictEqual((8 + n) % 8, 0, 'header padded to 8 bytes');
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  assert.deepStrictEqual(header.f32, { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
  assert.deepStrictEqual(header.__metadata__, { format: 'pt' });
  const f = SafetensorsFile.open(file);
  assertClose(f.readFloat32('f32'), [1, -2.5, 3, 1e-3]);
  assertClose(f.readFloat32('f16'), [1, 0.5, -65504]);
  assertClose(f.readFloat32('bf16'), [1.5, -3]);
  assertClose(f.readFloat32('i64'), [7, -9]);
  f.close();
  const all = loadSafetensors(file);
  assert.deepStrictEqual([...(all.tensors.b.data as Uint8Array)], [1, 0]);
});

test('half and bfloat16 conversions match hand-computed bit patterns', () => {
  assert.strictEqual(f32ToF16(1), 0x3c00);
  assert.strictEqual(f32ToF16(-2), 0xc000);
  assert.strictEqual(f32ToF16(65504), 0x7bff);
  assert.strictEqual(f16ToF32(0x0001), 2 ** -24);
  assert.strictEqual(f32ToBf16(1), 0x3f80);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: round to even gives 1.0
  assert.strictEqual(f32ToBf16(1 + 2 ** -8), 0x3f80);
});

test('corrupt headers give errors naming the file and the problem', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'bad.safetensors');
  const writeHeader = (h: object, extra = 0) => {
    const j = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(j.length));
    fs.writeFileSync(file, Buffer.concat([len, j, Buffer.alloc(extra)]));
  };
  writeHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4);
  assert.throws(() => SafetensorsFile.open(file), /bad\.safetensors: tensor 'x': data_offsets \[0, 8\] out of range/);
  writeHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8);
  assert.throws(() => SafetensorsFile.open(file), /byte size 8 does not match shape \[3\]/);
  writeHeader({ x: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, 8);
  assert.throws(() => SafetensorsFile.open(file), /unknown dtype "Q4"/);
  writeHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8);
  assert.throws(() => SafetensorsFile.open(file), /overlapping/);
  fs.writeFileSync(file, Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
  assert.throws(() => SafetensorsFile.open(file), /header length 255 is beyond the file/);
});

test('SafetensorsBuffer reads bytes in memory exactly as SafetensorsFile reads the file (SAELens-written fixture)', async () => {
  const { SafetensorsBuffer } = await import('../../lib/io/safetensorsCore');
  for (const fixture of ['v6_topk_bf16', 'v6_jumprelu']) {
    const file = path.join(REPO_ROOT, 'test', 'fixtures', 'sae', fixture, 'sae_weights.safetensors');
    const bytes = fs.readFileSync(file);
    const mem = SafetensorsBuffer.parse(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
    const disk = SafetensorsFile.open(file);
    assert.deepStrictEqual(mem.names().sort(), disk.names().sort());
    assert.deepStrictEqual(mem.metadata, disk.metadata);
    for (const name of disk.names()) {
      assert.deepStrictEqual(mem.info(name), disk.info(name));
      assert.deepStrictEqual(Array.from(mem.readFloat32(name)), Array.from(disk.readFloat32(name)), `${fixture}:${name}`);
      const rows = disk.info(name).shape[0] ?? 1;
      if (disk.info(name).shape.length > 1 && rows > 1) assert.deepStrictEqual(Array.from(mem.readRows(name, 1, 1).data as ArrayLike<number>), Array.from(disk.readRows(name, 1, 1).data as ArrayLike<number>));
    }
    disk.close();
    // a copy per read: changing what one read returned leaves the next read intact
    const first = mem.names()[0];
    const a = mem.readFloat32(first);
    a.fill(123);
    assert.notStrictEqual(mem.readFloat32(first)[0], 123);
    mem.close();
    assert.throws(() => mem.readRaw(first), /reader is closed/);
  }
});

test('SafetensorsBuffer: serializeSafetensors bytes parse back; truncated bytes and bad headers are errors naming the source', async () => {
  const { SafetensorsBuffer, serializeSafetensors } = await import('../../lib/io/safetensorsCore');
  const chunks = serializeSafetensors('mem', { w: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, i: { dtype: 'I64', shape: [1], data: [5] } }, { format: 'pt' });
  const bytes = Buffer.concat(chunks.map((c) => Buffer.from(c)));
  // the same bytes writeSafetensors puts in a file
  const dir = tmpDir();
  writeSafetensors(path.join(dir, 'w.safetensors'), { w: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, i: { dtype: 'I64', shape: [1], data: [5] } }, { format: 'pt' });
  assert.ok(bytes.equals(fs.readFileSync(path.join(dir, 'w.safetensors'))));
  const f = SafetensorsBuffer.parse(bytes, 'https://host/w.safetensors');
  assert.deepStrictEqual(Array.from(f.readFloat32('w')), [1, 2, 3, 4, 5, 6]);
  assert.deepStrictEqual(Array.from(f.readRows('w', 1, 1).data as Float32Array), [4, 5, 6]);
  assert.deepStrictEqual(Array.from(f.readFloat32('i')), [5]);
  assert.throws(() => SafetensorsBuffer.parse(bytes.subarray(0, bytes.length - 4), 'https://host/w.safetensors'), /https:\/\/host\/w\.safetensors: tensor '.*': data_offsets .* out of range/);
  assert.throws(() => SafetensorsBuffer.parse(bytes.subarray(0, 5), 'cut'), /cut: file has 5 bytes/);
  const bad = Buffer.from(bytes);
  bad.write('!', 8);
  assert.throws(() => SafetensorsBuffer.parse(bad, 'bad'), /bad: header is not valid JSON/);
});

test('a file opened { mapped: true } gives tensors of 1 MiB or more as private mappings: same values, writes stay in memory, unmapped when collected', async () => {
  const { loadNativeAddon } = await import('../../lib/backend/native');
  const { collectGarbage } = await import('../../lib/model/memory');
  assert.ok(loadNativeAddon().addon, 'the native addon is built');
  const dir = tmpDir();
  const file = path.join(dir, 'big.safetensors');
  const n = 1 << 19; // 2 MiB of float32
  const big = new Float32Array(n).map((_, i) => Math.sin(i) * 1000);
  writeSafetensors(file, { small: { shape: [3], data: new Float32Array([1, 2, 3]) }, big: { shape: [512, 1024], data: big } });
  const before = fs.readFileSync(file);
  const mapsHold = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(file)).length;
  assert.strictEqual(mapsHold(), 0);
  const f = SafetensorsFile.open(file, { mapped: true });
  let t: Float32Array | undefined = f.readRaw('big').data as Float32Array;
  assert.deepStrictEqual(Array.from(f.readRaw('small').data as Float32Array), [1, 2, 3]);
  assert.strictEqual(mapsHold(), 1, 'the 2 MiB tensor is a mapping of the file');
  assert.strictEqual(t.length, n);
  for (let i = 0; i < n; i += 997) assert.strictEqual(t[i], Math.fround(Math.sin(i) * 1000), `value ${i}`);
  t[5] = -7; // copy-on-write: the caller owns what it read, the file is untouched
  assert.strictEqual(t[5], -7);
  f.close();
  assert.ok(fs.readFileSync(file).equals(before), 'the file is unchanged');
  const plain = SafetensorsFile.open(file);
  assert.deepStrictEqual(plain.readRaw('big').data, big);
  plain.close();
  assert.strictEqual(mapsHold(), 1, 'a plain open reads');
  t = undefined;
  for (let i = 0; i < 5 && mapsHold() > 0; i++) await collectGarbage(20);
  assert.strictEqual(mapsHold(), 0, 'the mapping goes when its buffer is collected');
});
