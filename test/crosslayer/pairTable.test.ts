import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir } from '../helpers';
import { BlockedPairTable, RecordBuffer, pairAccumulateAddon } from '../../lib/analysis/crosslayer/pairTable';
import { CrossLayerCollector, MaxActivationCollector, SparseCodes } from '../../lib/analysis/crosslayer';
import { requireNative } from '../native/compare';
import { rng } from './util';

before(async () => {
  await setupBackend();
  requireNative();
});

const R0 = 3, R1 = 203, D_COLS = 150, THRESHOLDS = [0, 1, 3];

/** Fill a blocked table from `rounds` buffers of records grouped by block, as the collector does. */
function fill(seed: number, rounds: number): { table: BlockedPairTable; sums: Map<string, { c: number; cr: number; xy: number }> } {
  const table = new BlockedPairTable(R0, R1, 16);
  table.trackThresholds(THRESHOLDS);
  const rand = rng(seed);
  const sums = new Map<string, { c: number; cr: number; xy: number }>();
  for (let r = 0; r < rounds; r++) {
    const n = 4000;
    const recs = Array.from({ length: n }, () => {
      // rows and columns drawn from small ranges so pairs repeat (counts above the thresholds) and tables grow
      const i = R0 + Math.floor(rand() * (R1 - R0)), j = Math.floor(rand() * D_COLS);
      const c = rand() < 0.8 ? 1 : 0, cr = c && rand() < 0.5 ? 1 : 0;
      return { i, j, xy: rand() * 2 - 1, flags: c | (cr << 1) };
    });
    recs.sort((a, b) => Math.floor((a.i - R0) / table.rowsPerBlock) - Math.floor((b.i - R0) / table.rowsPerBlock));
    const buf = new RecordBuffer(n);
    const starts = new Int32Array(table.blocks.length + 1);
    recs.forEach((e, k) => {
      buf.i[k] = e.i; buf.j[k] = e.j; buf.xy[k] = e.xy; buf.flags[k] = e.flags;
      starts[Math.floor((e.i - R0) / table.rowsPerBlock) + 1]++;
      const key = `${e.i},${e.j}`;
      const s = sums.get(key) ?? { c: 0, cr: 0, xy: 0 };
      s.c += e.flags & 1; s.cr += e.flags >> 1; s.xy += e.xy;
      sums.set(key, s);
    });
    for (let b = 0; b < table.blocks.length; b++) starts[b + 1] += starts[b];
    buf.n = n;
    table.addGrouped(buf, starts);
    assert.strictEqual(buf.n, 0, 'the buffer is emptied');
  }
  return { table, sums };
}

/** Every entry through the table's cursor, in its order. */
function drain(table: BlockedPairTable): { i: number[]; j: number[]; c: number[]; cr: number[]; xy: number[] } {
  const out = { i: [] as number[], j: [] as number[], c: [] as number[], cr: [] as number[], xy: [] as number[] };
  const cur = table.cursor(R1, D_COLS);
  while (cur.next()) { out.i.push(cur.i); out.j.push(cur.j); out.c.push(cur.count); out.cr.push(cur.countRel); out.xy.push(cur.sumXY); }
  cur.close();
  return out;
}

test('the native pair tables (parallel insert, growth, sort) hold the JavaScript tables\' entries bit for bit, in row-major order', async () => {
  const results = [];
  for (const backend of ['cpu', 'native']) {
    await tf.setBackend(backend);
    const { table, sums } = fill(7, 5);
    const alive = [0, 0, 0];
    table.countAbove(THRESHOLDS, alive);
    results.push({ backend, entries: drain(table), alive, sums, slots: table.blocks.map((b) => Array.from(b.slots.i32)) });
  }
  await tf.setBackend('native');
  const [js, nat] = results;
  // against the records themselves: one entry per distinct pair, with its counts, in (i, j) order; sums within rounding
  const keys = [...js.sums.keys()].map((k) => k.split(',').map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepStrictEqual(js.entries.i, keys.map((k) => k[0]));
  assert.deepStrictEqual(js.entries.j, keys.map((k) => k[1]));
  keys.forEach(([i, j], k) => {
    const s = js.sums.get(`${i},${j}`)!;
    assert.strictEqual(js.entries.c[k], s.c);
    assert.strictEqual(js.entries.cr[k], s.cr);
    assert.ok(Math.abs(js.entries.xy[k] - s.xy) < 1e-9);
  });
  const expectAlive = THRESHOLDS.map((t) => [...js.sums.values()].filter((s) => s.c > t).length);
  assert.deepStrictEqual(js.alive, expectAlive, 'tracked counts above the thresholds');
  // native = JavaScript exactly: entries, sums (same additions in the same order), tracked counts, slot layout
  assert.deepStrictEqual(nat.entries, js.entries);
  assert.deepStrictEqual(nat.alive, js.alive);
  assert.deepStrictEqual(nat.slots, js.slots);
});

/** Random sparse codes [T, d]: about `l0` active features per token, ascending, values mostly positive (a few negative). */
function codes(seed: number, T: number, d: number, l0: number): SparseCodes {
  const rand = rng(seed);
  const indptr = new Int32Array(T + 1);
  const idx: number[] = [], val: number[] = [];
  for (let t = 0; t < T; t++) {
    const k = t % 97 === 5 ? 0 : Math.round(l0 * (0.5 + rand()));
    const row = new Set<number>();
    while (row.size < Math.min(k, d)) row.add(Math.floor(d * rand() ** 2));
    for (const f of [...row].sort((a, b) => a - b)) { idx.push(f); val.push(Math.fround(rand() < 0.03 ? -rand() : 0.05 + 2 * rand())); }
    indptr[t + 1] = idx.length;
  }
  return { T, d, indptr, indices: Int32Array.from(idx), values: Float32Array.from(val) };
}

test('the collector\'s native accumulate (records made and added in one call, same chunks and spills) equals the JavaScript loop bit for bit', async () => {
  // 3 layers of d 512, ~60 active a token: ~2.2M records a layer pair (two record chunks), a 300k-pair budget
  // (spills inside a call), a row shard, relative bounds, checkpoints inside batches, one batch of a single token
  const D = 512, T = 611;
  const layers = [1, 2, 3].map((s) => codes(s, T, D, 60));
  const slice = (c: SparseCodes, t0: number, t1: number): SparseCodes => {
    const a = c.indptr[t0], b = c.indptr[t1];
    return { T: t1 - t0, d: c.d, indptr: c.indptr.slice(t0, t1 + 1).map((v) => v - a), indices: c.indices.slice(a, b), values: c.values.slice(a, b) };
  };
  const runs = [];
  for (const backend of ['cpu', 'native']) {
    await tf.setBackend(backend);
    assert.strictEqual(pairAccumulateAddon() !== undefined, backend === 'native', 'the native backend takes the native path');
    const mp = new MaxActivationCollector(3, D);
    await mp.add(layers);
    const col = new CrossLayerCollector({ n_layers: 3, d_sae: D, checkpoint_tokens: 128, rows: [5, 500], max_activations: mp.result(), max_pairs_in_memory: 300_000 });
    for (const [t0, t1] of [[0, 1], [1, 400], [400, T]]) col.addSparse(layers.map((c) => slice(c, t0, t1)));
    const pairs = [0, 1].map((P) => {
      const out = { i: [] as number[], j: [] as number[], c: [] as number[], cr: [] as number[], xy: [] as number[] };
      const cur = col.pairCursor(P);
      while (cur.next()) { out.i.push(cur.i); out.j.push(cur.j); out.c.push(cur.count); out.cr.push(cur.countRel); out.xy.push(cur.sumXY); }
      cur.close();
      return out;
    });
    const slots = col.tables.map((t) => t.blocks.map((b) => Array.from(b.slots.i32)));
    // a checkpoint folds the memory table and the spilled runs into one file per layer pair: the same bytes
    const dir = path.join(tmpDir(), `save-${backend}`);
    await col.save(dir);
    const saved = [0, 1].map((P) => fs.readFileSync(path.join(dir, `pairs_${P}_${P + 1}.bin`)).toString('base64'));
    runs.push({ pairs, deadPairs: col.deadPairs, peak: col.peakPairsInMemory, spills: col.spills, slots, saved });
    col.dispose();
  }
  await tf.setBackend('native');
  const [js, nat] = runs;
  assert.ok(js.spills >= 4, `the budget forces spills (${js.spills})`);
  assert.ok(js.pairs[0].i.length > 100_000 && js.pairs[0].i.every((i) => i >= 5 && i < 500), 'pairs of the row shard only');
  assert.deepStrictEqual(nat.pairs, js.pairs);
  assert.deepStrictEqual(nat.deadPairs, js.deadPairs);
  assert.deepStrictEqual([nat.peak, nat.spills], [js.peak, js.spills]);
  assert.deepStrictEqual(nat.slots, js.slots);
  assert.ok(nat.saved[0].length > 1_000_000);
  assert.ok(nat.saved[0] === js.saved[0] && nat.saved[1] === js.saved[1], 'the saved pair files are byte for byte the same');
});
