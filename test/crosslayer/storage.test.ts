import { before, describe, it } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { setupBackend, tmpDir } from '../helpers';
import { writeSafetensors, SafetensorsFile } from '../../lib/io/safetensors';
import { command } from '../../lib/cli/commands/crosslayer';
import { convertToSeedNpz, expectedDeadPairs, loadCrossLayerOutputs, FEATURE_THRESHOLDS, PAIR_THRESHOLDS } from '../../lib/analysis/crosslayer';
import { writeNpz, npyFromArray } from '../../lib/io/npz';
import { denseDeadFeatures, denseDeadPairs, denseDecoderCosine, denseStats, maxOf } from './dense-reference';
import { assertStatEqual, flat, randomCodes, rng } from './util';

before(setupBackend);

const T = 300, D = 16, CTX = 50, DM = 5, C = 64;

/** Parse a stored (uncompressed) ZIP as the APPNOTE describes it: member name -> bytes, checking CRCs. */
function readZip(file: string): Map<string, Buffer> {
  const buf = fs.readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'no end-of-central-directory record');
  let n = buf.readUInt16LE(eocd + 10);
  let cdOff = buf.readUInt32LE(eocd + 16);
  if (cdOff === 0xffffffff) {
    const loc = eocd - 20;
    assert.strictEqual(buf.readUInt32LE(loc), 0x07064b50, 'zip64 locator');
    const z = Number(buf.readBigUInt64LE(loc + 8));
    assert.strictEqual(buf.readUInt32LE(z), 0x06064b50, 'zip64 end record');
    n = Number(buf.readBigUInt64LE(z + 32));
    cdOff = Number(buf.readBigUInt64LE(z + 48));
  }
  const out = new Map<string, Buffer>();
  let p = cdOff;
  for (let k = 0; k < n; k++) {
    assert.strictEqual(buf.readUInt32LE(p), 0x02014b50, 'central directory signature');
    assert.strictEqual(buf.readUInt16LE(p + 10), 0, 'stored (no compression)');
    const crc = buf.readUInt32LE(p + 16);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    let local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    if (size === 0xffffffff || local === 0xffffffff) {
      const e = p + 46 + nameLen;
      assert.strictEqual(buf.readUInt16LE(e), 1, 'zip64 extra id');
      let q = e + 4;
      if (size === 0xffffffff) { size = Number(buf.readBigUInt64LE(q)); q += 16; }
      if (local === 0xffffffff) local = Number(buf.readBigUInt64LE(q));
    }
    assert.strictEqual(buf.readUInt32LE(local), 0x04034b50, 'local header signature');
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + size);
    assert.strictEqual(zlib.crc32(data), crc, `${name}: CRC-32`);
    out.set(name, data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Parse an .npy v1.0 member per NumPy's format spec. */
function readNpy(b: Buffer): { descr: string; shape: number[]; data: Buffer } {
  assert.deepStrictEqual([...b.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'npy magic');
  assert.strictEqual(b[6], 1);
  const hlen = b.readUInt16LE(8);
  assert.strictEqual((10 + hlen) % 64, 0, 'data aligned to 64 bytes');
  const header = b.toString('latin1', 10, 10 + hlen);
  assert.ok(header.endsWith('\n'));
  const m = /^\{'descr': '([^']+)', 'fortran_order': False, 'shape': \(([\d, ]*)\), \}\s*$/.exec(header);
  assert.ok(m, `npy header ${JSON.stringify(header)}`);
  const shape = m![2].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { descr: m![1], shape, data: b.subarray(10 + hlen) };
}

describe('saelab crosslayer CLI, storage, loader and .npz converter', () => {
  const layers = randomCodes(5, 3, T, D);
  const r = rng(9);
  const W = layers.map(() => Array.from({ length: D }, () => Array.from({ length: DM }, () => Math.fround(r() * 2 - 1))));
  const dir = tmpDir('crosslayer-cli-');
  const files = layers.map((X, L) => {
    const f = path.join(dir, `L${L}.safetensors`);
    writeSafetensors(f, {
      feature_acts: { shape: [T / CTX, CTX, D], data: flat(X, 0, T) },
      W_dec: { shape: [D, DM], data: Float32Array.from(W[L].flat()) },
    });
    return f;
  });
  const out = path.join(dir, 'out');

  it('writes the seed\'s statistics, max activations and dead series, equal to the dense definitions', async () => {
    const code = await command.run(['--acts', files.join(','), '--tensor', 'feature_acts', '--decoder-tensor', 'W_dec', '--checkpoint-tokens', String(C), '--batch-tokens', '77', '--graph-min', '0.3', '--out', out]);
    assert.strictEqual(code, 0);
    // file layout and dtypes
    const pf = SafetensorsFile.open(path.join(out, 'pair_0_1.safetensors'));
    const ii = pf.info('sufficiency.indices'), vv = pf.info('sufficiency.values');
    assert.strictEqual(ii.dtype, 'I32'); assert.strictEqual(vv.dtype, 'F32');
    assert.deepStrictEqual(ii.shape, [vv.shape[0], 2]);
    assert.ok(pf.has('cosine_similarity.indices'));
    pf.close();
    const df = SafetensorsFile.open(path.join(out, 'dead_features.safetensors'));
    assert.deepStrictEqual(df.info('dead_features').shape, [4, 9, 3]);
    assert.strictEqual(df.info('dead_features').dtype, 'I64');
    assert.deepStrictEqual(df.info('dead_feature_pairs').shape, [5, 2, 4]);
    df.close();
    // values
    const res = loadCrossLayerOutputs(out);
    for (let P = 0; P < 2; P++) {
      const ref = denseStats(layers[P], layers[P + 1], true);
      for (const [name, m] of Object.entries(ref)) {
        const got = res.pairs[P][name];
        const dense = Array.from({ length: D }, (_, i) => Array.from({ length: D }, (_, j) => got.get(i, j)));
        assertStatEqual(dense, m, 0.1, `pair ${P} ${name}`);
      }
      const cos = res.pairs[P].cosine_similarity;
      const dense = Array.from({ length: D }, (_, i) => Array.from({ length: D }, (_, j) => cos.get(i, j)));
      assertStatEqual(dense, denseDecoderCosine(W[P], W[P + 1]), 0.4, 'cosine_similarity', 1e-5);
    }
    for (let L = 0; L < 3; L++) for (let f = 0; f < D; f++) assert.strictEqual(res.max_activations[L][f], maxOf(layers[L].map((row) => row[f])));
    assert.deepStrictEqual(res.dead.dead_features, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS));
    assert.deepStrictEqual(res.dead.dead_feature_pairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS));
    assert.deepStrictEqual(res.dead.tokens, [64, 128, 192, 256]);
    assert.deepStrictEqual(res.dead.feature_thresholds, FEATURE_THRESHOLDS);
    assert.deepStrictEqual(res.dead.pair_thresholds, PAIR_THRESHOLDS);
    assert.strictEqual(res.summary.tokens, T);
    // analyses written alongside
    const pt = JSON.parse(fs.readFileSync(path.join(out, 'pass_through.json'), 'utf8'));
    assert.strictEqual(pt.length, 4);
    const pear0 = denseStats(layers[0], layers[1], false).pearson_correlation;
    const expectedCount = pear0.filter((row) => Math.max(...row) >= 0.4).length;
    assert.deepStrictEqual(pt[0], { layer: 0, threshold: 0.4, count: expectedCount, share: expectedCount / D, share_of_alive: expectedCount / (D - 1) });
    assert.ok(fs.readFileSync(path.join(out, 'graph.html'), 'utf8').startsWith('<!DOCTYPE html>'));
  });

  it('expected dead pairs from single dead features: d^2 - (d - dead_L)(d - dead_L+1)', () => {
    // 2 steps, thresholds [0], 3 layers; d = 10
    assert.deepStrictEqual(expectedDeadPairs([[[1, 2, 0]], [[0, 2, 3]]], 10), [[100 - 9 * 8, 100 - 8 * 10], [100 - 10 * 8, 100 - 8 * 7]]);
  });

  it('converts to the seed\'s dense .npz files (arr_0, float32 [n_layers - 1, d, d]; int64 series)', () => {
    const npzDir = path.join(dir, 'npz');
    const written = convertToSeedNpz(out, npzDir, { block_rows: 5 });
    assert.ok(written.includes(path.join(npzDir, 'pearson_correlation.npz')));
    const res = loadCrossLayerOutputs(out);
    const zip = readZip(path.join(npzDir, 'pearson_correlation.npz'));
    assert.deepStrictEqual([...zip.keys()], ['arr_0.npy']);
    const npy = readNpy(zip.get('arr_0.npy')!);
    assert.strictEqual(npy.descr, '<f4');
    assert.deepStrictEqual(npy.shape, [2, D, D]);
    const vals = new Float32Array(npy.data.buffer.slice(npy.data.byteOffset, npy.data.byteOffset + npy.data.byteLength));
    const expected = new Float32Array(2 * D * D);
    expected.set(res.pairs[0].pearson_correlation.toDense(), 0);
    expected.set(res.pairs[1].pearson_correlation.toDense(), D * D);
    assert.deepStrictEqual(vals, expected);
    const dead = readNpy(readZip(path.join(npzDir, 'dead_features.npz')).get('arr_0.npy')!);
    assert.strictEqual(dead.descr, '<i8');
    assert.deepStrictEqual(dead.shape, [4, 9, 3]);
    const dv = Array.from(new BigInt64Array(dead.data.buffer.slice(dead.data.byteOffset, dead.data.byteOffset + dead.data.byteLength)), Number);
    assert.deepStrictEqual(dv, res.dead.dead_features.flat(2));
    const pairs = readNpy(readZip(path.join(npzDir, 'dead_feature_pairs.npz')).get('arr_0.npy')!);
    assert.deepStrictEqual(pairs.shape, [5, 2, 4]);
  });

  it('writes ZIP64 records when asked (the path seed-sized arrays take)', () => {
    const f = path.join(dir, 'z64.npz');
    writeNpz(f, [npyFromArray('a', [3], Float32Array.of(1, 2, 3)), npyFromArray('b', [2, 1], BigInt64Array.of(5n, -7n))], { forceZip64: true });
    const zip = readZip(f);
    const a = readNpy(zip.get('a.npy')!);
    assert.deepStrictEqual(a.shape, [3]);
    assert.deepStrictEqual(Array.from(new Float32Array(a.data.buffer.slice(a.data.byteOffset, a.data.byteOffset + 12))), [1, 2, 3]);
    const b = readNpy(zip.get('b.npy')!);
    assert.deepStrictEqual(b.shape, [2, 1]);
    assert.deepStrictEqual(Array.from(new BigInt64Array(b.data.buffer.slice(b.data.byteOffset, b.data.byteOffset + 16))), [5n, -7n]);
  });

  it('clear errors for unequal T, unequal d_sae, a missing tensor and too few layers', async () => {
    const bad = path.join(dir, 'short.safetensors');
    writeSafetensors(bad, { feature_acts: { shape: [T - 1, D], data: new Float32Array((T - 1) * D) } });
    await assert.rejects(command.run(['--acts', `${files[0]},${bad}`, '--out', path.join(dir, 'x')]), /short\.safetensors: 'feature_acts' has 299 tokens, but .*L0\.safetensors has 300/);
    const wide = path.join(dir, 'wide.safetensors');
    writeSafetensors(wide, { feature_acts: { shape: [T, D + 1], data: new Float32Array(T * (D + 1)) } });
    await assert.rejects(command.run(['--acts', `${files[0]},${wide}`, '--out', path.join(dir, 'x')]), /has d_sae 17, but .* has 16/);
    await assert.rejects(command.run(['--acts', files.join(','), '--tensor', 'acts', '--out', path.join(dir, 'x')]), /L0\.safetensors: no tensor 'acts'/);
    await assert.rejects(command.run(['--acts', files.join(','), '--decoder-tensor', 'W_enc', '--out', path.join(dir, 'x')]), /no tensor 'W_enc'/);
    await assert.rejects(command.run(['--acts', files[0], '--out', path.join(dir, 'x')]), /at least two layer files/);
  });
});
