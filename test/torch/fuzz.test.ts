import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { PickleError, loadPickle } from '../../lib/io/pickle';
import { TorchCheckpointError, TorchTensor, readTorch } from '../../lib/io/torch';
import { DTYPE_SIZES } from '../../lib/io/dtypes';
import { ZipError, ZipReader, buildZip } from '../../lib/io/zip';
import { REPO_ROOT } from '../helpers';
import { mulberry32 as rng } from '../../lib/data/random';

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'torch');


const OPCODES = [0x28, 0x2e, 0x30, 0x31, 0x32, 0x46, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x58,
  0x61, 0x62, 0x63, 0x64, 0x7d, 0x65, 0x67, 0x68, 0x69, 0x6a, 0x6c, 0x5d, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x29, 0x75, 0x47, 0x80,
  0x81, 0x82, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x42, 0x43, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96];

/** One random corruption: truncation, bit flips, byte overwrite, opcode edit, insertion or deletion. */
function corrupt(src: Uint8Array, r: () => number, opcodeEdits: boolean): { bytes: Uint8Array; how: string } {
  const b = Buffer.from(src);
  const pos = Math.floor(r() * b.length);
  const kind = Math.floor(r() * (opcodeEdits ? 6 : 4));
  switch (kind) {
    case 0: return { bytes: b.subarray(0, pos), how: `truncate to ${pos}` };
    case 1: {
      const n = 1 + Math.floor(r() * 4);
      const flips: number[] = [];
      for (let i = 0; i < n; i++) { const p = Math.floor(r() * b.length); const bit = Math.floor(r() * 8); b[p] ^= 1 << bit; flips.push(p * 8 + bit); }
      return { bytes: b, how: `flip bits ${flips.join(',')}` };
    }
    case 2: { const v = Math.floor(r() * 256); b[pos] = v; return { bytes: b, how: `byte ${pos} = ${v}` }; }
    case 3: { const len = 1 + Math.floor(r() * 16); b.fill(r() < 0.5 ? 0 : 0xff, pos, Math.min(b.length, pos + len)); return { bytes: b, how: `fill ${len} at ${pos}` }; }
    case 4: { const op = OPCODES[Math.floor(r() * OPCODES.length)]; b[pos] = op; return { bytes: b, how: `opcode ${op.toString(16)} at ${pos}` }; }
    default: {
      if (r() < 0.5) return { bytes: Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1)]), how: `delete byte ${pos}` };
      const op = OPCODES[Math.floor(r() * OPCODES.length)];
      return { bytes: Buffer.concat([b.subarray(0, pos), Buffer.from([op]), b.subarray(pos)]), how: `insert ${op.toString(16)} at ${pos}` };
    }
  }
}

function isClearError(e: unknown, label: string): boolean {
  return (e instanceof ZipError || e instanceof TorchCheckpointError || e instanceof PickleError) && e.message.startsWith(`${label}:`);
}

function sameTensors(a: Record<string, TorchTensor>, b: Record<string, TorchTensor>): boolean {
  if (Object.keys(a).join('|') !== Object.keys(b).join('|')) return false;
  for (const k of Object.keys(a)) {
    const x = a[k];
    const y = b[k];
    if (x.dtype !== y.dtype || x.shape.join(',') !== y.shape.join(',') || x.data.length !== y.data.length) return false;
    const xb = Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
    const yb = Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength);
    if (!xb.equals(yb)) return false;
  }
  return true;
}

/** A value read from a corrupted pickle must still be well-formed: tensors hold as many elements as their shape says. */
function checkWellFormed(v: unknown, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (v instanceof TorchTensor) {
    const n = v.shape.reduce((p, d) => p * d, 1);
    assert.strictEqual(v.data.length, n, 'tensor data length matches its shape');
    assert.strictEqual(v.data.BYTES_PER_ELEMENT, DTYPE_SIZES[v.dtype], 'tensor data type matches its dtype');
    return;
  }
  const items = v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Array.isArray(v) ? v : ArrayBuffer.isView(v) ? [] : Object.values(v);
  for (const x of items) checkWellFormed(x, seen);
}

const N_EACH = 400;

test(`fuzz: ${N_EACH} corruptions of a torch.save checkpoint file give a clear error or the original values`, () => {
  const src = fs.readFileSync(path.join(FIX, 'state_dict.pth'));
  const original = readTorch(src, 'orig.pth') as Record<string, TorchTensor>;
  const r = rng(12345);
  let errors = 0;
  let slowest = 0;
  for (let i = 0; i < N_EACH; i++) {
    const { bytes, how } = corrupt(src, r, false);
    const t0 = Date.now();
    try {
      const got = readTorch(bytes, 'fuzz.pth') as Record<string, TorchTensor>;
      assert.ok(sameTensors(got, original), `case ${i} (${how}): read without error but values differ`);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(isClearError(e, 'fuzz.pth'), `case ${i} (${how}): unclear error ${(e as Error)?.stack}`);
      errors++;
    }
    slowest = Math.max(slowest, Date.now() - t0);
  }
  assert.ok(errors > N_EACH / 2, `most corruptions are detected (${errors}/${N_EACH})`);
  assert.ok(slowest < 2000, `no case hangs (slowest ${slowest} ms)`);
});

test(`fuzz: ${N_EACH} corruptions of data.pkl inside a valid zip give a clear error or well-formed data`, () => {
  const src = fs.readFileSync(path.join(FIX, 'state_dict.pth'));
  const z = ZipReader.open(src);
  const records = z.names().map((name) => ({ name, data: z.read(name) }));
  z.close();
  const pklIndex = records.findIndex((e) => e.name.endsWith('/data.pkl'));
  const r = rng(777);
  let slowest = 0;
  for (let i = 0; i < N_EACH; i++) {
    const { bytes, how } = corrupt(records[pklIndex].data, r, true);
    const zipped = Buffer.concat(buildZip(records.map((e, k) => (k === pklIndex ? { name: e.name, data: bytes } : e))));
    const t0 = Date.now();
    try {
      checkWellFormed(readTorch(zipped, 'fuzz.pth'));
    } catch (e) {
      if (e instanceof assert.AssertionError) throw new assert.AssertionError({ message: `case ${i} (${how}): ${e.message}` });
      assert.ok(isClearError(e, 'fuzz.pth'), `case ${i} (${how}): unclear error ${(e as Error)?.stack}`);
    }
    slowest = Math.max(slowest, Date.now() - t0);
  }
  assert.ok(slowest < 2000, `no case hangs (slowest ${slowest} ms)`);
});

test(`fuzz: ${N_EACH} corruptions of config pickles (protocols 2 and 4) give a PickleError or well-formed data`, () => {
  const sources = [2, 4].map((p) => fs.readFileSync(path.join(FIX, `ll_model_cfg.p${p}.pkl`)));
  const r = rng(4242);
  let slowest = 0;
  for (let i = 0; i < N_EACH; i++) {
    const { bytes, how } = corrupt(sources[i % 2], r, true);
    const t0 = Date.now();
    try {
      checkWellFormed(loadPickle(bytes, { label: 'fuzz.pkl' }));
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(isClearError(e, 'fuzz.pkl'), `case ${i} (${how}): unclear error ${(e as Error)?.stack}`);
    }
    slowest = Math.max(slowest, Date.now() - t0);
  }
  assert.ok(slowest < 2000, `no case hangs (slowest ${slowest} ms)`);
});
