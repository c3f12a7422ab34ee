import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensors, SafetensorsFile, loadSafetensors } from '../../lib/io/safetensors';
import { f32ToBf16, f32ToF16, f16ToF32 } from '../../lib/io/dtypes';
import { tmpDir, assertClose } from '../helpers';

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
