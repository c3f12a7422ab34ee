import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../helpers';
import { writeSafetensors } from '../../lib/io/safetensors';
import { compareRuns, compareJson } from '../../lib/pipeline/compareRuns';

function makeRun(root: string, opts: { mean: number; act: number; extra?: boolean }): void {
  const st = path.join(root, '02_compute_similarities');
  fs.mkdirSync(path.join(st, 'shards', '0-of-3'), { recursive: true });
  fs.writeFileSync(path.join(st, 'results.json'), JSON.stringify({ reused: opts.extra ?? false, cosine_mean: opts.mean, label: 'x' }));
  fs.writeFileSync(path.join(st, 'manifest.json'), JSON.stringify({ createdAt: String(Math.random()) }));
  fs.writeFileSync(path.join(st, 'shards', '0-of-3', 'state.json'), String(Math.random()));
  writeSafetensors(path.join(st, 'acts.safetensors'), { acts: { dtype: 'F32', shape: [2], data: Float32Array.from([1, opts.act]) }, ids: { dtype: 'I32', shape: [1], data: Int32Array.from([7]) } });
  fs.writeFileSync(path.join(root, '02_compute_similarities.ipynb'), String(Math.random()));
  if (opts.extra) fs.writeFileSync(path.join(st, 'extra.csv'), 'a\n');
}

test('runs equal within float32 rounding compare equal; manifests, shard folders, notebook outputs and "reused" are ignored', () => {
  const a = tmpDir();
  const b = tmpDir();
  makeRun(a, { mean: 0.123456789, act: 2 });
  makeRun(b, { mean: 0.123456789 * (1 + 3e-7), act: 2 * (1 + 1e-7) });
  assert.deepStrictEqual(compareRuns(a, b), []);
});

test('a different value, tensor or file is reported with its path', () => {
  const a = tmpDir();
  const b = tmpDir();
  makeRun(a, { mean: 0.5, act: 2 });
  makeRun(b, { mean: 0.5001, act: 2.01, extra: true });
  const d = compareRuns(a, b);
  assert.ok(d.includes('02_compute_similarities/results.json: $.cosine_mean: 0.5 vs 0.5001'), d.join('\n'));
  assert.ok(d.some((l) => /acts\.safetensors: acts: 1 of 2 values differ \(first at 1: 2 vs 2\.00999/.test(l)), d.join('\n'));
  assert.ok(d.includes(`02_compute_similarities/extra.csv: only in ${b}`), d.join('\n'));
});

test('compareJson: NaN equals NaN, strings and lengths must match', () => {
  assert.deepStrictEqual(compareJson({ a: [NaN, 1] }, { a: [NaN, 1] }), []);
  assert.deepStrictEqual(compareJson({ a: 'x', b: [1] }, { a: 'y', b: [1, 2] }), ['$.a: "x" vs "y"', '$.b: length 1 vs 2']);
});

test('JSON lines (training metrics) compare record by record; wall-clock fields are ignored, values are not', () => {
  const a = tmpDir();
  const b = tmpDir();
  const write = (root: string, loss: number, elapsed: number) => {
    fs.mkdirSync(path.join(root, '10_sweep'), { recursive: true });
    fs.writeFileSync(path.join(root, '10_sweep', 'metrics.jsonl'), `{"step":10,"mse_loss":${loss},"elapsed_s":${elapsed}}\n{"step":20,"mse_loss":1.5,"elapsed_s":${2 * elapsed}}\n`);
    fs.writeFileSync(path.join(root, '10_sweep', 'trainer_state.json'), JSON.stringify({ step: 20, elapsedS: elapsed }));
    fs.writeFileSync(path.join(root, '10_sweep', 'results.json'), JSON.stringify({ tokens: 64, tokens_per_second: 64 / elapsed }));
  };
  write(a, 2.5, 0.4);
  write(b, 2.5, 0.9);
  assert.deepStrictEqual(compareRuns(a, b), []);
  write(b, 2.6, 0.9);
  assert.deepStrictEqual(compareRuns(a, b), ['10_sweep/metrics.jsonl: $[0].mse_loss: 2.5 vs 2.6']);
});

test('compareJson: file records (size, mtime, SHA-256) and a collection\'s memory figures are how a result was stored, not what it is', () => {
  const rec = (size: number) => ({ size, mtimeMs: size * 1000, sha256: `h${size}` });
  assert.deepStrictEqual(compareJson({ files: { 'summary.json': rec(936) }, peak_pairs_in_memory: 184826, spills: 0, tokens: 4 }, { files: { 'summary.json': rec(935) }, peak_pairs_in_memory: 64270, spills: 3, tokens: 4 }), []);
  // an object that merely has a size is still compared
  assert.deepStrictEqual(compareJson({ size: 1, sha256: 'a' }, { size: 2, sha256: 'a' }), ['$.size: 1 vs 2']);
});
