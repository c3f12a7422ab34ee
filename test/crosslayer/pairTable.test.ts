import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { BlockedPairTable, RecordBuffer } from '../../lib/analysis/crosslayer/pairTable';
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
