import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose, tmpDir } from '../helpers';
import {
  NormScalarAccumulator, OutlierCounter, absoluteOutlierRule, emptyOutlierCfg, outlierMaskValues, outlierRuleFromCfg,
  parseOutlierCfg, readOutlierCfg, relativeOutlierRule, setOutlierCfgEntry, writeOutlierCfg,
} from '../../lib/analysis';
import { FX, nums } from './fixtures';

before(setupBackend);

test('norm scalar is sqrt(d) over the mean of per-batch mean norms (hand values)', () => {
  const acc = new NormScalarAccumulator();
  acc.add(tf.tensor3d([[[3, 4], [0, 5]]])); // norms 5, 5: batch mean 5
  acc.add(tf.tensor3d([[[5, 12]]])); // norm 13: batch mean 13
  assert.strictEqual(acc.meanNorm(), 9); // (5 + 13) / 2, as published; not the token mean 23/3
  assertClose([acc.tokenMeanNorm()], [23 / 3], 1e-6);
  assertClose([acc.normScalar(2)], [Math.SQRT2 / 9], 1e-7);
  // shards merge to the same figures
  const s1 = new NormScalarAccumulator();
  s1.add(tf.tensor3d([[[3, 4], [0, 5]]]));
  const s2 = NormScalarAccumulator.fromJSON(JSON.parse(JSON.stringify(new NormScalarAccumulator().toJSON())));
  s2.add(tf.tensor3d([[[5, 12]]]));
  assert.strictEqual(s1.merge(s2).meanNorm(), 9);
});

test('relative and absolute outlier rules (hand values)', () => {
  // S = sqrt(2)/9, multiplier 2, base sqrt(2): outlier when |S x| > 2 sqrt(2), i.e. |x| > 18
  const rel = relativeOutlierRule(Math.SQRT2 / 9, 2, 2);
  assert.deepStrictEqual(rel, { kind: 'relative', normScalar: Math.SQRT2 / 9, multiplier: 2, baseThreshold: Math.SQRT2 });
  const acts = tf.tensor3d([[[0, 17.9], [0, 18.1], [12, 16], [30, 40]]]); // norms 17.9, 18.1, 20, 50
  assert.deepStrictEqual(Array.from(outlierMaskValues(acts, rel)), [0, 1, 1, 1]);
  assert.deepStrictEqual(Array.from(outlierMaskValues(acts, absoluteOutlierRule(19))), [0, 0, 1, 1]);
  acts.dispose();
});

test('outlier fraction and mask match numpy, BOS check by token id and by position', () => {
  const f = FX.outliers;
  const acc = new NormScalarAccumulator();
  const batches = f.batches.map((b: { shape: number[]; values: number[] }) => tf.tensor3d(b.values, b.shape as [number, number, number]));
  for (const b of batches) acc.add(b);
  const S = acc.normScalar(4);
  assertClose([S], [f.norm_scalar], 1e-6, 1e-6);
  assertClose([acc.tokenMeanNorm()], [f.token_mean_norm], 1e-5, 1e-6);
  const rule = relativeOutlierRule(S, 4, 2);
  const counters = batches.map((b: tf.Tensor3D, i: number) => {
    assert.deepStrictEqual(Array.from(outlierMaskValues(b, rule)), nums(f.masks[i]));
    const c = new OutlierCounter(rule);
    c.add(b);
    return c;
  });
  const s = counters[0].merge(counters[1]).summary();
  assertClose([s.fraction], [f.fraction], 1e-12);
  assert.strictEqual(s.outlierNorms.length, s.outliers);
  // position 0 of each of the 3 sequences is BOS by default; none of them is an outlier in the fixture
  assert.strictEqual(s.bosTokens, 3);
  // token-id BOS check: mark the outlier position as BOS
  const big = batches[1];
  const c = new OutlierCounter(rule);
  c.add(big, new Int32Array([7, 50256, 7]), 50256);
  assert.strictEqual(c.summary().bosTokens, 1);
  assert.strictEqual(c.summary().anyBosOutlier, nums(f.masks[1])[1] === 1);
  assert.throws(() => c.add(big, new Int32Array([1, 2, 3])), /bosTokenId/);
  tf.dispose(batches);
});

test('outlier_cfg.json round-trips in the published format', () => {
  const cfg = emptyOutlierCfg();
  setOutlierCfgEntry(cfg, 'google/gemma-2b', 0.31278620989943556, relativeOutlierRule(0.31278620989943556, 2048, 2));
  setOutlierCfgEntry(cfg, 'gpt2-small', 0.27139524668485193, relativeOutlierRule(0.27139524668485193, 768, 2));
  setOutlierCfgEntry(cfg, 'mistral-7b', 14.178454680291779, absoluteOutlierRule(200));
  // the published file's content (keys and spellings as published; base threshold = sqrt(d_model))
  const published = {
    norm_scalar: { 'google/gemma-2b': 0.31278620989943556, 'gpt2-small': 0.27139524668485193, 'mistral-7b': 14.178454680291779 },
    threshhold_multiplier: { 'google/gemma-2b': 2, 'gpt2-small': 2 },
    base_threshhold: { 'google/gemma-2b': 45.254833995939045, 'gpt2-small': 27.712812921102035 },
    absolute_threshold: { 'mistral-7b': 200 },
  };
  assert.deepStrictEqual(cfg, published);
  const dir = tmpDir();
  const file = path.join(dir, 'outlier_cfg.json');
  writeOutlierCfg(file, cfg);
  assert.deepStrictEqual(JSON.parse(fs.readFileSync(file, 'utf8')), published);
  const back = readOutlierCfg(file);
  assert.deepStrictEqual(outlierRuleFromCfg(back, 'mistral-7b'), { kind: 'absolute', threshold: 200, normScalar: 14.178454680291779 });
  assert.deepStrictEqual(outlierRuleFromCfg(back, 'gpt2-small'), { kind: 'relative', normScalar: 0.27139524668485193, multiplier: 2, baseThreshold: 27.712812921102035 });
  assert.throws(() => outlierRuleFromCfg(back, 'llama'), /no outlier rule for model "llama"/);
  assert.throws(() => parseOutlierCfg({ norm_scalar: { a: 'x' } }, 'cfg.json'), /cfg.json: "norm_scalar"."a" must be a finite number/);
  fs.writeFileSync(file, '{oops');
  assert.throws(() => readOutlierCfg(file), /not valid JSON/);
});
