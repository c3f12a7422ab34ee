/** Safetensors read as strictly as the reference reader (huggingface/safetensors, Metadata::validate and read_metadata). */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, REPO_ROOT } from '../helpers';
import { SafetensorsError, SafetensorsFile, parseHeaderJson } from '../../lib/io/safetensors';

/** A file from a header object and a data section (no padding). */
function file(dir: string, name: string, header: unknown, data: Buffer, rawHeader?: Buffer): string {
  const h = rawHeader ?? Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const f = path.join(dir, name);
  fs.writeFileSync(f, Buffer.concat([len, h, data]));
  return f;
}

const dir = tmpDir('safety-st-');
const two = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'U8', shape: [3], data_offsets: [8, 11] } };

test('a well-formed file (tensors in any header order, empty tensors, metadata) is read', () => {
  const f = file(dir, 'ok.safetensors', { b: two.b, __metadata__: { k: 'v' }, e: { dtype: 'F32', shape: [0], data_offsets: [11, 11] }, a: two.a }, Buffer.alloc(11, 1));
  const s = SafetensorsFile.open(f);
  assert.deepStrictEqual(s.names().sort(), ['a', 'b', 'e']);
  s.close();
});

test('bytes after the last tensor are refused (MetadataIncompleteBuffer)', () => {
  const f = file(dir, 'trailing.safetensors', two, Buffer.alloc(12));
  assert.throws(() => SafetensorsFile.open(f), (e: Error) => e instanceof SafetensorsError && e.message.startsWith(f) && /after the last tensor|trailing/.test(e.message));
});

test('a gap between tensors, or data not starting at offset 0, is refused (InvalidOffset)', () => {
  const gap = file(dir, 'gap.safetensors', { a: two.a, b: { ...two.b, data_offsets: [9, 12] } }, Buffer.alloc(12));
  assert.throws(() => SafetensorsFile.open(gap), (e: Error) => e instanceof SafetensorsError && /'b'/.test(e.message) && /gap|offset/.test(e.message));
  const late = file(dir, 'late.safetensors', { a: { ...two.a, data_offsets: [4, 12] } }, Buffer.alloc(12));
  assert.throws(() => SafetensorsFile.open(late), (e: Error) => e instanceof SafetensorsError && /'a'/.test(e.message));
  const overlap = file(dir, 'overlap.safetensors', { a: two.a, b: { dtype: 'U8', shape: [3], data_offsets: [6, 9] } }, Buffer.alloc(9));
  assert.throws(() => SafetensorsFile.open(overlap), SafetensorsError);
});

test('a header that is not UTF-8, has non-integer numbers, or exceeds 100,000,000 bytes is refused', () => {
  const bad = Buffer.from(JSON.stringify(two));
  const latin = Buffer.concat([bad.subarray(0, 2), Buffer.from([0xff]), bad.subarray(3)]); // '{"\xff: ...' breaks UTF-8 inside a key
  const f1 = file(dir, 'utf8.safetensors', null, Buffer.alloc(11), latin);
  assert.throws(() => SafetensorsFile.open(f1), (e: Error) => e instanceof SafetensorsError && /UTF-8/.test(e.message));
  const f2 = file(dir, 'float.safetensors', null, Buffer.alloc(11), Buffer.from('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}'));
  assert.throws(() => SafetensorsFile.open(f2), (e: Error) => e instanceof SafetensorsError && /integer/.test(e.message));
  const f3 = file(dir, 'exp.safetensors', null, Buffer.alloc(11), Buffer.from('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}'));
  assert.throws(() => SafetensorsFile.open(f3), SafetensorsError);
  // numbers inside metadata strings are text, not numbers
  const f4 = file(dir, 'meta.safetensors', { __metadata__: { note: '1.5e3 and -2' }, ...two }, Buffer.alloc(11));
  SafetensorsFile.open(f4).close();
  const big = Buffer.alloc(8);
  big.writeBigUInt64LE(100_000_001n);
  const f5 = path.join(dir, 'big.safetensors');
  fs.writeFileSync(f5, Buffer.concat([big, Buffer.alloc(64)]));
  assert.throws(() => SafetensorsFile.open(f5), SafetensorsError);
  assert.throws(() => parseHeaderJson('x', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 8, 5), SafetensorsError, 'parseHeaderJson checks the data section size too');
});

test('every safetensors file saelab ships (demo world, fixtures) passes the strict reader', () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.safetensors')) files.push(fs.realpathSync(p));
    }
  };
  walk(path.join(REPO_ROOT, 'data'));
  walk(path.join(REPO_ROOT, 'test', 'fixtures'));
  assert.ok(files.length > 20, `${files.length} files`);
  for (const f of new Set(files)) SafetensorsFile.open(f).close();
});
