import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { rawToFloat32, RawTensor } from '../../lib/io/safetensors';
import { PickleWriter } from '../../lib/io/pickle';
import { TorchCheckpointError, TorchTensor, encodeTorchStateDict, loadTorchCheckpoint, readTorch, saveTorchStateDict, torchCheckpointToTensors } from '../../lib/io/torch';
import { ZipError, ZipReader, buildZip } from '../../lib/io/zip';
import { REPO_ROOT, assertClose, setupBackend, tmpDir } from '../helpers';

before(setupBackend);

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'torch');
type Expected = Record<string, { dtype: string; shape: number[]; values: Array<number | string> }>;

function checkAgainst(sd: Record<string, RawTensor>, expected: Expected, label: string): void {
  assert.deepStrictEqual(Object.keys(sd), Object.keys(expected), `${label}: keys in saved order`);
  for (const [k, e] of Object.entries(expected)) {
    const t = sd[k];
    assert.strictEqual(t.dtype, e.dtype, `${label}:${k} dtype`);
    assert.deepStrictEqual(t.shape, e.shape, `${label}:${k} shape`);
    if (e.dtype === 'I64') assert.deepStrictEqual([...(t.data as BigInt64Array)], e.values.map((v) => BigInt(v)), `${label}:${k}`);
    else if (e.dtype === 'BOOL') assert.deepStrictEqual([...(t.data as Uint8Array)], e.values, `${label}:${k}`);
    else assertClose(rawToFloat32(t), e.values as number[], 0, 0, `${label}:${k}`);
  }
}

test('torch.save state_dict: float32, float16, bfloat16, int64, bool, 0-d, empty, offset and strided views', async () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'state_dict.expected.json'), 'utf8')) as Expected;
  const sd = await loadTorchCheckpoint(path.join(FIX, 'state_dict.pth'));
  checkAgainst(sd, expected, 'state_dict.pth');
  assert.ok(sd.f32 instanceof TorchTensor);
  // a contiguous view points into its storage (offset 6 floats); strided views are copies
  assert.strictEqual(sd.row_view.data.byteOffset, 6 * 4);
  assert.notStrictEqual(sd.transposed.data.buffer, sd.row_view.data.buffer);
});

test('a checkpoint saved on a GPU (location cuda:0), rezipped by Python with another folder name', async () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'cuda_location.expected.json'), 'utf8')) as Expected;
  const file = path.join(FIX, 'cuda_location.pth');
  const z = ZipReader.open(file);
  assert.ok(z.has('my_model/data.pkl'));
  assert.ok(Buffer.from(z.read('my_model/data.pkl')).includes('cuda:0'));
  z.close();
  checkAgainst(await loadTorchCheckpoint(file), expected, 'cuda_location.pth');
});

test('saveTorchStateDict writes torch\'s layout (64-byte aligned stored records) and reads back exactly', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'out.pth');
  const tensors = {
    'embed.W_E': { shape: [2, 3], data: new Float32Array([1, 2, 3, -4, 5.5, 1e-8]) },
    half: { dtype: 'F16' as const, shape: [2], data: [0.5, -2] },
    bf: { dtype: 'BF16' as const, shape: [1, 2], data: [1.5, -256] },
    long: { dtype: 'I64' as const, shape: [3], data: new BigInt64Array([1n, -(2n ** 50n), 7n]) },
    mask: { dtype: 'BOOL' as const, shape: [2, 2], data: [1, 0, 1, 1] },
    scalar: { shape: [], data: new Float32Array([-100000]) },
    tf32: tf.tensor2d([[1, 2], [3, 4]]),
  };
  await saveTorchStateDict(file, tensors);
  const z = ZipReader.open(file);
  assert.deepStrictEqual(z.names(), ['archive/data.pkl', 'archive/byteorder', ...[0, 1, 2, 3, 4, 5, 6].map((i) => `archive/data/${i}`), 'archive/version']);
  assert.strictEqual(Buffer.from(z.read('archive/version')).toString(), '3\n');
  assert.strictEqual(Buffer.from(z.read('archive/byteorder')).toString(), 'little');
  const pkl = z.read('archive/data.pkl');
  assert.deepStrictEqual([pkl[0], pkl[1]], [0x80, 2], 'pickle protocol 2 like torch.save');
  const buf = fs.readFileSync(file);
  for (const e of z.entries.values()) {
    const start = e.localHeaderOffset + 30 + buf.readUInt16LE(e.localHeaderOffset + 26) + buf.readUInt16LE(e.localHeaderOffset + 28);
    assert.strictEqual(start % 64, 0, `${e.name} data aligned to 64 bytes`);
    assert.strictEqual(e.method, 0, 'stored');
  }
  assert.deepStrictEqual([...z.read('archive/data/0')], [...new Uint8Array(new Float32Array([1, 2, 3, -4, 5.5, 1e-8]).buffer)]);
  z.close();
  const back = await loadTorchCheckpoint(file);
  checkAgainst(back, {
    'embed.W_E': { dtype: 'F32', shape: [2, 3], values: [...new Float32Array([1, 2, 3, -4, 5.5, 1e-8])] },
    half: { dtype: 'F16', shape: [2], values: [0.5, -2] },
    bf: { dtype: 'BF16', shape: [1, 2], values: [1.5, -256] },
    long: { dtype: 'I64', shape: [3], values: ['1', String(-(2n ** 50n)), '7'] },
    mask: { dtype: 'BOOL', shape: [2, 2], values: [1, 0, 1, 1] },
    scalar: { dtype: 'F32', shape: [], values: [-100000] },
    tf32: { dtype: 'F32', shape: [2, 2], values: [1, 2, 3, 4] },
  }, 'out.pth');
  assert.throws(() => torchCheckpointToTensors({ long: back.long }), /long: I64 value -1125899906842624 at index 1 does not fit in int32/);
  const { long: _long, ...rest } = back;
  const tfs = torchCheckpointToTensors(rest);
  assert.strictEqual(tfs.mask.dtype, 'bool');
  assertClose(await tfs['embed.W_E'].data() as Float32Array, [...new Float32Array([1, 2, 3, -4, 5.5, 1e-8])], 0, 0);
  Object.values(tfs).forEach((t) => t.dispose());
  tensors.tf32.dispose();
});

test('zip64 records, deflated entries, other folder names and big-endian storages read back', () => {
  const tensors = { w: { shape: [2, 2], data: new Float32Array([1, -2, 3.25, 4]) }, i: { dtype: 'I64' as const, shape: [2], data: [5, -6] } };
  const z64 = Buffer.concat(encodeTorchStateDict(tensors, { forceZip64: true, archiveName: 'case_3' }));
  // zip64 end record and locator present; EOCD fields saturated
  assert.ok(z64.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])) && z64.includes(Buffer.from([0x50, 0x4b, 0x06, 0x07])));
  assert.strictEqual(z64.readUInt32LE(z64.length - 6), 0xffffffff);
  const a = readTorch(z64, 'z64.pth') as Record<string, TorchTensor>;
  assert.deepStrictEqual([...(a.w.data as Float32Array)], [1, -2, 3.25, 4]);
  assert.deepStrictEqual([...(a.i.data as BigInt64Array)], [5n, -6n]);
  // the same records deflated (as a generic zip tool might store them)
  const zr = ZipReader.open(z64);
  const deflated = Buffer.concat(buildZip(zr.names().map((name) => ({ name, data: zr.read(name) })), { deflate: true }));
  zr.close();
  assert.ok(deflated.length > 0);
  const d = readTorch(deflated, 'deflated.pth') as Record<string, TorchTensor>;
  assert.deepStrictEqual([...(d.w.data as Float32Array)], [1, -2, 3.25, 4]);
  // big-endian byteorder: storage bytes are swapped on read
  const pkl = (() => {
    const zz = ZipReader.open(z64);
    const p = zz.read('case_3/data.pkl');
    zz.close();
    return p;
  })();
  const beFloats = Buffer.alloc(16);
  [1, -2, 3.25, 4].forEach((v, k) => beFloats.writeFloatBE(v, 4 * k));
  const beLongs = Buffer.alloc(16);
  beLongs.writeBigInt64BE(5n, 0);
  beLongs.writeBigInt64BE(-6n, 8);
  const be = Buffer.concat(buildZip([
    { name: 'x/data.pkl', data: pkl }, { name: 'x/byteorder', data: Buffer.from('big') },
    { name: 'x/data/0', data: beFloats }, { name: 'x/data/1', data: beLongs }, { name: 'x/.data/version', data: Buffer.from('3\n') },
  ]));
  const bt = readTorch(be, 'be.pth') as Record<string, TorchTensor>;
  assert.deepStrictEqual([...(bt.w.data as Float32Array)], [1, -2, 3.25, 4]);
  assert.deepStrictEqual([...(bt.i.data as BigInt64Array)], [5n, -6n]);
});

/** A one-tensor checkpoint whose rebuild call uses the given storage numel, offset, size and stride. */
function craft(numel: number, storageFloats: number, offset: number, size: number[], stride: number[], storageType = 'FloatStorage'): Buffer {
  const w = new PickleWriter().proto(2).emptyDict().str('t').global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', storageType).str('0').str('cpu').int(numel).tupleFromMark().binpersid();
  w.int(offset).mark(); size.forEach((s) => w.int(s)); w.tupleFromMark().mark(); stride.forEach((s) => w.int(s)); w.tupleFromMark();
  w.bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tupleFromMark().reduce().op(0x73).stop();
  return Buffer.concat(buildZip([{ name: 'a/data.pkl', data: w.toBytes() }, { name: 'a/data/0', data: new Uint8Array(new Float32Array(storageFloats).map((_, i) => i).buffer) }, { name: 'a/version', data: Buffer.from('3') }]));
}

test('declared sizes are checked against the file before anything is allocated', () => {
  // a valid strided view first
  const ok = readTorch(craft(6, 6, 1, [2, 2], [3, 1]), 'ok.pth') as Record<string, TorchTensor>;
  assert.deepStrictEqual([...(ok.t.data as Float32Array)], [1, 2, 4, 5]);
  assert.throws(() => readTorch(craft(1e9, 6, 0, [6], [1]), 'big.pth'), /big\.pth: .*storage '0' claims 1000000000 F32 elements \(4000000000 bytes\) but its record has 24 bytes/);
  assert.throws(() => readTorch(craft(6, 6, 0, [3, 3], [3, 1]), 'oob.pth'), /oob\.pth: .*reaches element 8 of a storage with 6 elements/);
  assert.throws(() => readTorch(craft(6, 6, 0, [1e6, 1e6], [0, 0]), 'expand.pth'), /expanded \(overlapping\) views are not supported/);
  assert.throws(() => readTorch(craft(6, 6, 0, [6], [1], 'ComplexFloatStorage'), 'cplx.pth'), /global torch\.ComplexFloatStorage, which is not on the allow-list/);
  assert.throws(() => readTorch(Buffer.from([0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]), 'legacy.pt'),
    (e: Error) => e instanceof ZipError && /legacy\.pt: not a zip archive.*legacy torch\.save/.test(e.message));
  assert.throws(() => readTorch(Buffer.concat(buildZip([{ name: 'a/other', data: Buffer.from('x') }])), 'nopkl.pth'), (e: Error) => e instanceof TorchCheckpointError && /no <folder>\/data\.pkl record/.test(e.message));
});
