import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensors, SafetensorsFile, SafetensorsError, rawToFloat32, TensorToWrite } from '../../lib/io/safetensors';
import { Dtype } from '../../lib/io/dtypes';
import { tmpDir } from '../helpers';
import { mulberry32 } from '../../lib/data/random';

/** Deterministic PRNG (the library's mulberry32) so a failure reproduces. */
const prng = (seed: number): (() => number) => mulberry32(seed);

const DTYPES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Independent reference decoder: one element of a dtype at a byte position, through DataView (little-endian). */
function decode(dv: DataView, dtype: string, pos: number): number {
  switch (dtype) {
    case 'F64': return dv.getFloat64(pos, true);
    case 'F32': return dv.getFloat32(pos, true);
    case 'F16': {
      const h = dv.getUint16(pos, true);
      const sign = h >> 15 ? -1 : 1;
      const exp = (h >> 10) & 31;
      const frac = h & 1023;
      if (exp === 31) return frac ? NaN : sign * Infinity;
      return exp === 0 ? sign * Math.pow(2, -14) * (frac / 1024) : sign * Math.pow(2, exp - 15) * (1 + frac / 1024);
    }
    case 'BF16': { const t = new DataView(new ArrayBuffer(4)); t.setUint16(0, dv.getUint16(pos, true)); return t.getFloat32(0); }
    case 'I64': return Number(dv.getBigInt64(pos, true));
    case 'I32': return dv.getInt32(pos, true);
    case 'I16': return dv.getInt16(pos, true);
    case 'I8': return dv.getInt8(pos);
    default: return dv.getUint8(pos);
  }
}

/**
 * What a correct reader must find in these bytes, checked independently of the library:
 * either a reason the file is invalid, or every tensor's dtype, shape and values.
 */
function reference(buf: Buffer): { invalid: string } | { tensors: Map<string, { dtype: string; shape: number[]; values: number[] }>; used: number } {
  if (buf.length < 8) return { invalid: 'short' };
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(buf.length - 8)) return { invalid: 'header length' };
  const hlen = Number(n);
  let h: unknown;
  try { h = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf.subarray(8, 8 + hlen))); } catch { return { invalid: 'json or utf-8' }; }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return { invalid: 'not object' };
  const dataLen = buf.length - 8 - hlen;
  const dv = new DataView(buf.buffer, buf.byteOffset + 8 + hlen, dataLen);
  const tensors = new Map<string, { dtype: string; shape: number[]; values: number[] }>();
  const spans: Array<[number, number]> = [];
  let used = hlen;
  for (const [name, e] of Object.entries(h as Record<string, any>)) {
    if (name === '__metadata__') {
      if (e === null) continue; // an absent metadata map (Option in the reference reader)
      if (typeof e !== 'object' || e === null || Array.isArray(e) || Object.values(e).some((v) => typeof v !== 'string')) return { invalid: 'metadata' };
      continue;
    }
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return { invalid: 'entry' };
    const size = Object.prototype.hasOwnProperty.call(DTYPES, e.dtype) ? DTYPES[e.dtype] : 0;
    if (!size) return { invalid: 'dtype' };
    if (!Array.isArray(e.shape) || !e.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0 && (d as number) <= Number.MAX_SAFE_INTEGER)) return { invalid: 'shape' };
    const o = e.data_offsets;
    if (!Array.isArray(o) || o.length !== 2 || !o.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0 && (d as number) <= Number.MAX_SAFE_INTEGER)) return { invalid: 'offsets' };
    if (o[1] < o[0] || o[1] > dataLen) return { invalid: 'range' };
    const count = e.shape.reduce((a: number, b: number) => a * b, 1);
    if (o[1] - o[0] !== count * size) return { invalid: 'size' };
    spans.push([o[0], o[1]]);
    used += o[1] - o[0];
    const values: number[] = [];
    for (let i = 0; i < count; i++) values.push(decode(dv, e.dtype, o[0] + i * size));
    tensors.set(name, { dtype: e.dtype, shape: e.shape, values });
  }
  // the reference reader (huggingface/safetensors): sorted byte ranges tile the data section from 0 to its end
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [b, e] of spans) {
    if (b !== at) return { invalid: b < at ? 'overlap' : 'gap' };
    at = e;
  }
  if (at !== dataLen) return { invalid: 'trailing bytes' };
  return { tensors, used };
}

function randomFile(r: () => number, file: string): void {
  const names = Object.keys(DTYPES);
  const tensors: Record<string, TensorToWrite> = {};
  const count = 1 + Math.floor(r() * 4);
  for (let t = 0; t < count; t++) {
    const dtype = names[Math.floor(r() * names.length)] as Dtype;
    const shape = Array.from({ length: Math.floor(r() * 3) }, () => Math.floor(r() * 5));
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'I64' ? BigInt64Array.from({ length: n }, () => BigInt(Math.floor((r() - 0.5) * 1e6)))
      : dtype === 'BOOL' || dtype === 'U8' ? Array.from({ length: n }, () => Math.floor(r() * (dtype === 'BOOL' ? 2 : 256)))
      : dtype.startsWith('I') ? Array.from({ length: n }, () => Math.floor((r() - 0.5) * 100))
      : Array.from({ length: n }, () => (r() - 0.5) * 1000);
    tensors[`t${t}.${dtype}`] = { dtype, shape, data };
  }
  writeSafetensors(file, tensors, r() < 0.5 ? { format: 'pt', note: 'fuzz' } : undefined);
}

type Mutation = (h: any, r: () => number) => unknown;
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)];
const MUTATIONS: Mutation[] = [
  (h, r) => { const k = tensorKey(h, r); if (k) h[k].dtype = pick(r, [...Object.keys(DTYPES), 'Q4', 'f32', 42, null]); return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) { const s = h[k].shape; const i = Math.floor(r() * (s.length + 1)); s[i] = pick(r, [0, 1, 2, -1, 1.5, '2', 2 ** 53, 1e300, null]); } return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) h[k].shape = pick(r, [[], [1e6, 1e6], 'x', null, [2 ** 40, 2 ** 40, 2 ** 40]]); return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) { const o = h[k].data_offsets; const i = Math.floor(r() * 2); o[i] = pick(r, [o[i] + 1, o[i] - 1, o[1 - i], -1, 0, 2 ** 60, 1e20, '0', 0.5, null]); } return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) h[k].data_offsets = pick(r, [[0], [0, 0, 0], null, 'x', [h[k].data_offsets[1], h[k].data_offsets[0]]]); return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) delete h[k][pick(r, ['dtype', 'shape', 'data_offsets'])]; return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) h[k] = pick(r, [null, [], 'str', 1]); return h; },
  (h, r) => { h.__metadata__ = pick(r, [{ a: 1 }, [], null, 'x', { a: 'b' }]); return h; },
  (h, r) => { const k = tensorKey(h, r); if (k) h[pick(r, ['copy', '__proto__', 'constructor'])] = JSON.parse(JSON.stringify(h[k])); return h; },
  (_h, r) => pick(r, [[], null, 1, 'x', {}]),
];
function tensorKey(h: any, r: () => number): string | undefined {
  const ks = Object.keys(h).filter((k) => k !== '__metadata__');
  return ks.length ? ks[Math.floor(r() * ks.length)] : undefined;
}

function corrupt(buf: Buffer, r: () => number): { kind: string; bytes: Buffer } {
  const hlen = Number(buf.readBigUInt64LE(0));
  const kind = pick(r, ['truncate', 'flip', 'flipData', 'headerLen', 'editHeader', 'editHeader', 'garbageHeader', 'append']);
  const b = Buffer.from(buf);
  switch (kind) {
    case 'truncate': return { kind, bytes: b.subarray(0, Math.floor(r() * b.length)) };
    case 'flip': { for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8); return { kind, bytes: b }; }
    case 'flipData': {
      if (b.length > 8 + hlen) b[8 + hlen + Math.floor(r() * (b.length - 8 - hlen))] ^= 1 << Math.floor(r() * 8);
      return { kind, bytes: b };
    }
    case 'headerLen': b.writeBigUInt64LE(pick(r, [0n, 1n, BigInt(hlen - 1), BigInt(hlen + 1), BigInt(b.length), 2n ** 63n, 2n ** 64n - 1n, BigInt(Math.floor(r() * 2 ** 40))]), 0); return { kind, bytes: b };
    case 'garbageHeader': { for (let i = 8; i < 8 + hlen; i++) if (r() < 0.1) b[i] = Math.floor(r() * 256); return { kind, bytes: b }; }
    case 'append': return { kind, bytes: Buffer.concat([b, Buffer.from(Array.from({ length: 1 + Math.floor(r() * 20) }, () => Math.floor(r() * 256)))]) };
    default: {
      const h = MUTATIONS[Math.floor(r() * MUTATIONS.length)](JSON.parse(b.subarray(8, 8 + hlen).toString()), r);
      const json = Buffer.from(JSON.stringify(h) ?? 'null');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return { kind, bytes: Buffer.concat([len, json, b.subarray(8 + hlen)]) };
    }
  }
}

test('1,200 random corruptions: each loads the right values or throws a SafetensorsError naming the file', { timeout: 120_000 }, () => {
  const dir = tmpDir('saelab-fuzz-');
  const r = prng(20260401);
  const counts: Record<string, { loaded: number; rejected: number }> = {};
  const N = 1200;
  for (let i = 0; i < N; i++) {
    const src = path.join(dir, `src${i % 40}.safetensors`);
    if (i < 40) randomFile(r, src);
    const { kind, bytes } = corrupt(fs.readFileSync(src), r);
    const file = path.join(dir, `case${i}.safetensors`);
    fs.writeFileSync(file, bytes);
    const ref = reference(bytes);
    const c = (counts[kind] ??= { loaded: 0, rejected: 0 });
    let f: SafetensorsFile;
    try {
      f = SafetensorsFile.open(file);
    } catch (e) {
      assert.ok(e instanceof SafetensorsError, `case ${i} (${kind}): not a SafetensorsError: ${(e as Error).stack}`);
      assert.ok((e as Error).message.startsWith(file + ': '), `case ${i}: message names the file: ${(e as Error).message}`);
      assert.ok('invalid' in ref, `case ${i} (${kind}): rejected a valid file: ${(e as Error).message}`);
      c.rejected++;
      fs.rmSync(file);
      continue;
    }
    try {
      assert.ok(!('invalid' in ref), `case ${i} (${kind}): accepted an invalid file (${'invalid' in ref ? ref.invalid : ''})`);
      if ('invalid' in ref) continue;
      // bounded allocation: what the reader will ever allocate (header + every tensor) fits in the file
      let total = 0;
      assert.deepStrictEqual(f.names().sort(), [...ref.tensors.keys()].sort(), `case ${i}: names`);
      for (const name of f.names()) {
        const info = f.info(name);
        total += info.byteLength;
        const want: { dtype: string; shape: number[]; values: number[] } = ref.tensors.get(name)!;
        const raw = f.readRaw(name);
        assert.strictEqual(raw.data.byteLength, info.byteLength);
        assert.strictEqual(raw.dtype, want.dtype);
        assert.deepStrictEqual(raw.shape, want.shape);
        const got = rawToFloat32(raw);
        for (let k = 0; k < want.values.length; k++) {
          const w = Math.fround(want.values[k]);
          assert.ok(Object.is(got[k], w) || (Number.isNaN(got[k]) && Number.isNaN(w)), `case ${i} (${kind}) ${name}[${k}]: ${got[k]} vs ${w}`);
        }
      }
      assert.ok(total + 8 <= bytes.length, `case ${i}: tensors claim ${total} bytes of a ${bytes.length}-byte file`);
      c.loaded++;
    } finally {
      f.close();
      fs.rmSync(file);
    }
  }
  const loaded = Object.values(counts).reduce((a, b) => a + b.loaded, 0);
  const rejected = Object.values(counts).reduce((a, b) => a + b.rejected, 0);
  assert.strictEqual(loaded + rejected, N);
  console.log(JSON.stringify(counts));
  // the corpus exercises both outcomes for the kinds that can go either way
  assert.ok(counts.flipData.loaded > 0 && counts.editHeader.rejected > 0 && counts.truncate.rejected > 0 && counts.headerLen.rejected > 0, JSON.stringify(counts));
});
