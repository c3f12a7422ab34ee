import { before, it } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { FeatureCodeSource, LayerBatch, pairStatistics, runCrossLayer, FEATURE_THRESHOLDS, PAIR_THRESHOLDS } from '../../lib/analysis/crosslayer';
import { denseDeadFeatures, denseDeadPairs, denseStats } from './dense-reference';
import { assertStatEqual, flat, randomCodes, statToDense } from './util';

before(setupBackend);

const T = 260, D = 12, C = 64;
const layers = randomCodes(21, 3, T, D);

/** Batches of 40 tokens from `start`; optionally fails after `failAfter` batches of a collect pass. */
function source(failAfter = Infinity): FeatureCodeSource & { calls: number[] } {
  const calls: number[] = [];
  return {
    n_layers: 3, d_sae: D, calls,
    async *batches(start: number): AsyncIterable<LayerBatch[]> {
      calls.push(start);
      let k = 0;
      for (let t = start; t < T; t += 40) {
        if (calls.length > 1 && k++ >= failAfter) throw new Error('interrupted');
        yield layers.map((X) => flat(X, t, Math.min(T, t + 40)));
      }
    },
  };
}

it('runs both passes, and an interrupted run resumes from its last save with the same results', async () => {
  const dir = path.join(tmpDir('crosslayer-driver-'), 'state');
  const first = source(3);
  await assert.rejects(runCrossLayer(first, { config: { checkpoint_tokens: C }, state_dir: dir, save_every_tokens: 80 }), /interrupted/);
  assert.deepStrictEqual(first.calls, [0, 0]);
  const second = source();
  const progress: number[] = [];
  const col = await runCrossLayer(second, { config: { checkpoint_tokens: C }, state_dir: dir, save_every_tokens: 80, onProgress: (p) => progress.push(p.tokens) });
  assert.deepStrictEqual(second.calls, [80], 'max pass reused from disk; collection resumed at the last save (80 tokens)');
  assert.deepStrictEqual(progress.slice(0, 2), [80, 120], 'the collection pass starts at the save, then reports each batch');
  assert.strictEqual(col.tokens, T);
  for (let P = 0; P < 2; P++) {
    const got = pairStatistics(col, P);
    for (const [name, m] of Object.entries(denseStats(layers[P], layers[P + 1], true))) assertStatEqual(statToDense(got[name], D, D, name), m, 0.1, `${P} ${name}`);
  }
  assert.deepStrictEqual(col.deadFeatures, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS));
  assert.deepStrictEqual(col.deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS));
});

it('max_tokens stops mid-batch at exactly that many tokens', async () => {
  const col = await runCrossLayer(source(), { relative: false, max_tokens: 130, config: { checkpoint_tokens: C } });
  assert.strictEqual(col.tokens, 130);
  const sub = layers.map((X) => X.slice(0, 130));
  const got = pairStatistics(col, 0);
  assert.ok(!('sufficiency_relative_activation' in got));
  for (const [name, m] of Object.entries(denseStats(sub[0], sub[1], false))) assertStatEqual(statToDense(got[name], D, D, name), m, 0.1, name);
  assert.deepStrictEqual(col.deadFeatures, denseDeadFeatures(sub, C, FEATURE_THRESHOLDS));
});
