import { before, describe, it } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir } from '../helpers';
import {
  CrossLayerCollector, CrossLayerConfig, MaxActivationCollector, denseToSparse, pairStatistics, FEATURE_THRESHOLDS, PAIR_THRESHOLDS, LayerBatch,
} from '../../lib/analysis/crosslayer';
import { Dense, denseDeadFeatures, denseDeadPairs, denseStats, maxOf } from './dense-reference';
import { assertStatEqual, denseTensor, flat, nnz, randomCodes, statToDense } from './util';

before(setupBackend);

const T = 300;
const D = 20;
const C = 64; // T is not a multiple of C: 4 checkpoints, the partial fifth is dropped
const BATCHES = [37, 1, 100, 26, 64, 72]; // sums to 300; checkpoints fall inside batches

/** Feed tokens [t0, t1) in the batch sizes above, cycling through the three input kinds. */
async function feed(col: { add(l: LayerBatch[]): Promise<void> }, layers: Dense[], t0 = 0, t1 = T): Promise<void> {
  let t = t0;
  let k = 0;
  while (t < t1) {
    const n = Math.min(BATCHES[k % BATCHES.length], t1 - t);
    const kind = k % 3;
    const batch: LayerBatch[] = layers.map((X) => (kind === 0 ? flat(X, t, t + n) : kind === 1 ? denseToSparse(flat(X, t, t + n), D) : denseTensor(X, t, t + n)));
    await col.add(batch);
    for (const b of batch) if (b instanceof tf.Tensor) b.dispose();
    t += n;
    k++;
  }
}

async function maxPass(layers: Dense[]): Promise<Float32Array[]> {
  const m = new MaxActivationCollector(layers.length, D);
  await feed(m, layers);
  return m.result();
}

function assertAllStats(col: CrossLayerCollector, layers: Dense[], relative: boolean, rows: [number, number] = [0, D]): void {
  for (let P = 0; P < layers.length - 1; P++) {
    const got = pairStatistics(col, P);
    const ref = denseStats(layers[P], layers[P + 1], relative);
    assert.deepStrictEqual(Object.keys(got).sort(), Object.keys(ref).sort());
    for (const [name, refM] of Object.entries(ref)) {
      const refRows = refM.map((r, i) => (i >= rows[0] && i < rows[1] ? r : r.map(() => 0)));
      assertStatEqual(statToDense(got[name], D, D, name), refRows, 0.1, `pair ${P} ${name}`);
    }
  }
}

describe('crosslayer collector against the dense definitions', () => {
  const layers = randomCodes(7, 3, T, D);

  it('the random codes exercise the edge cases the tests claim', () => {
    const ref = denseStats(layers[0], layers[1], true);
    // feature 0 never fires in any layer; feature 1 of layer 0 never co-fires with feature 1 of layer 1
    assert.strictEqual(maxOf(layers[0].map((r) => r[0])), 0);
    assert.ok(layers[0].every((r, t) => !(r[1] > 0 && layers[1][t][1] > 0)));
    // ... and its Pearson is strongly negative and its MI large: both must come from per-feature moments
    assert.ok(ref.pearson_correlation[1][1] < -0.3, `pearson ${ref.pearson_correlation[1][1]}`);
    assert.ok(ref.mutual_information[1][1] > 0.6);
    for (const [name, m] of Object.entries(ref)) assert.ok(nnz(m) > 0, `${name} has no stored values in the test data`);
  });

  it('every statistic and the dead-feature/dead-pair series equal the dense definitions', async () => {
    const max = await maxPass(layers);
    for (let L = 0; L < 3; L++) for (let f = 0; f < D; f++) assert.strictEqual(max[L][f], maxOf(layers[L].map((r) => r[f])));
    const col = new CrossLayerCollector({ n_layers: 3, d_sae: D, checkpoint_tokens: C, max_activations: max });
    await feed(col, layers);
    assert.strictEqual(col.tokens, T);
    assertAllStats(col, layers, true);
    assert.deepStrictEqual(col.stepTokens, [64, 128, 192, 256]);
    assert.deepStrictEqual(col.deadFeatures, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS));
    assert.deepStrictEqual(col.deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS));
    assert.ok(col.deadFeatures[0][0].every((v) => v >= 1), 'feature 0 is dead in every layer');
    assert.deepStrictEqual(col.maxActivations().map((m) => Array.from(m)), max.map((m) => Array.from(m)));
    col.dispose();
  });

  it('without max activations the relative statistics are left out and the rest still match', async () => {
    const col = new CrossLayerCollector({ n_layers: 3, d_sae: D, checkpoint_tokens: 0 });
    await feed(col, layers);
    assertAllStats(col, layers, false);
    assert.deepStrictEqual(col.stepTokens, []);
  });

  it('raw negative values enter Pearson and cosine exactly', async () => {
    const neg = randomCodes(11, 2, T, D, true);
    assert.ok(neg[0].some((r) => r.some((v) => v < 0)));
    const col = new CrossLayerCollector({ n_layers: 2, d_sae: D, checkpoint_tokens: C, max_activations: await maxPass(neg) });
    await feed(col, neg);
    assertAllStats(col, neg, true);
    assert.deepStrictEqual(col.deadPairs, denseDeadPairs(neg, C, PAIR_THRESHOLDS));
  });

  it('spilling the pair table to disk changes nothing (memory bounded, peak reported)', async () => {
    const spill = tmpDir('crosslayer-spill-');
    const max = await maxPass(layers);
    const col = new CrossLayerCollector({ n_layers: 3, d_sae: D, checkpoint_tokens: C, max_activations: max, max_pairs_in_memory: 240, spill_dir: spill });
    await feed(col, layers);
    assert.ok(col.spills > 5, `expected spills, got ${col.spills}`);
    // compaction keeps the runs logarithmic in the spills
    for (const runs of col.runs) assert.ok(runs.length <= Math.ceil(Math.log2(col.spills)) + 1, `${runs.length} runs after ${col.spills} spills`);
    // at most one token's worth of new pairs (<= D*D per layer pair) above the per-table budget of 120
    assert.ok(col.peakPairsInMemory <= 2 * (120 + D * D), `peak ${col.peakPairsInMemory}`);
    assertAllStats(col, layers, true);
    assert.deepStrictEqual(col.deadFeatures, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS));
    assert.deepStrictEqual(col.deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS));
    col.dispose();
  });

  it('save / load resumes exactly, also mid-checkpoint and after spills', async () => {
    const dir = path.join(tmpDir('crosslayer-ckpt-'), 'state');
    const max = await maxPass(layers);
    const cfg: CrossLayerConfig = { n_layers: 3, d_sae: D, checkpoint_tokens: C, max_activations: max, max_pairs_in_memory: 200 };
    const a = new CrossLayerCollector(cfg);
    await feed(a, layers, 0, 150);
    await a.save(dir);
    await feed(a, layers, 150, 170); // keeps going after a save...
    await a.save(dir); // ...and saves again over the same folder
    const b = CrossLayerCollector.load(dir);
    assert.strictEqual(b.tokens, 170);
    await feed(b, layers, 170, T);
    assertAllStats(b, layers, true);
    assert.deepStrictEqual(b.deadFeatures, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS));
    assert.deepStrictEqual(b.deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS));
    await feed(a, layers, 170, T);
    assertAllStats(a, layers, true);
  });

  it('token shards merge exactly; the series are the first shard\'s (the run\'s first tokens)', async () => {
    const max = await maxPass(layers);
    const cfg: CrossLayerConfig = { n_layers: 3, d_sae: D, checkpoint_tokens: C, max_activations: max };
    const s1 = new CrossLayerCollector(cfg), s2 = new CrossLayerCollector(cfg);
    await feed(s1, layers, 0, 140);
    await feed(s2, layers, 140, T);
    const m = CrossLayerCollector.merge([s1, s2]);
    assert.strictEqual(m.tokens, T);
    assertAllStats(m, layers, true);
    assert.deepStrictEqual(m.stepTokens, [64, 128]);
    assert.deepStrictEqual(m.deadFeatures, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS).slice(0, 2));
    assert.deepStrictEqual(m.deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS).map((x) => x.map((s) => s.slice(0, 2))));
  });

  it('row shards merge exactly, dead pairs included; a single row shard matches its rows', async () => {
    const max = await maxPass(layers);
    const shards: CrossLayerCollector[] = [];
    for (const rows of [[7, 20], [0, 7]] as Array<[number, number]>) {
      const s = new CrossLayerCollector({ n_layers: 3, d_sae: D, checkpoint_tokens: C, max_activations: max, rows, max_pairs_in_memory: 100 });
      await feed(s, layers);
      shards.push(s);
    }
    assertAllStats(shards[1], layers, true, [0, 7]);
    assert.deepStrictEqual(shards[1].deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS, [0, 7]));
    const m = CrossLayerCollector.merge(shards);
    assert.deepStrictEqual(m.cfg.rows, [0, D]);
    assertAllStats(m, layers, true);
    assert.deepStrictEqual(m.deadPairs, denseDeadPairs(layers, C, PAIR_THRESHOLDS));
    assert.deepStrictEqual(m.deadFeatures, denseDeadFeatures(layers, C, FEATURE_THRESHOLDS));
    const overlapping = new CrossLayerCollector({ n_layers: 3, d_sae: D, checkpoint_tokens: C, max_activations: max, rows: [5, 12] });
    assert.throws(() => CrossLayerCollector.merge([shards[0], overlapping]), /tile one range/);
  });
});

describe('crosslayer edge cases', () => {
  /** Layers from explicit per-token {feature: value} maps. */
  function build(d: number, tokens: Array<Array<Record<number, number>>>): Dense[] {
    const nL = tokens[0].length;
    return Array.from({ length: nL }, (_, L) => tokens.map((tok) => {
      const row = new Array(d).fill(0);
      for (const [f, v] of Object.entries(tok[L])) row[Number(f)] = v;
      return row;
    }));
  }

  it('values exactly at the 0.1 clamp are kept, just below are dropped', async () => {
    // layer 0 feature 0 fires on 10 tokens, feature 1 on 11; layer 1 feature 0 fires on one of each.
    const d = 4;
    const tokens: Array<Array<Record<number, number>>> = [];
    for (let t = 0; t < 10; t++) tokens.push([{ 0: 1 }, t === 0 ? { 0: 1 } : {}]);
    for (let t = 0; t < 11; t++) tokens.push([{ 1: 1 }, t === 0 ? { 1: 1 } : {}]);
    // activation cosine exactly 1 / sqrt(1 * 100) = 0.1: x = (1,0,0,0), y = (1,9,3,3) on 4 tokens
    const ys = [1, 9, 3, 3];
    ys.forEach((y, t) => tokens.push([t === 0 ? { 2: 1 } : {}, { 2: y }]));
    for (let t = 0; t < 60; t++) tokens.push([{}, {}]);
    const layers = build(d, tokens);
    const Tn = layers[0].length;
    const max = [0, 1].map((L) => Float32Array.from({ length: d }, (_, f) => maxOf(layers[L].map((r) => r[f]))));
    const col = new CrossLayerCollector({ n_layers: 2, d_sae: d, checkpoint_tokens: 0, max_activations: max });
    await col.add(layers.map((X) => flat(X, 0, Tn)));
    const got = pairStatistics(col, 0);
    const at = (name: string, i: number, j: number): number => statToDense(got[name], d, d, name)[i][j];
    assert.strictEqual(at('sufficiency', 0, 0), Math.fround(0.1)); // 1/10: kept
    assert.strictEqual(at('sufficiency', 1, 1), 0); // 1/11: dropped
    assert.strictEqual(at('sufficiency_relative_activation', 0, 0), Math.fround(0.1));
    assert.strictEqual(at('jaccard_similarity', 0, 0), Math.fround(0.1)); // 1 / (10 + 1 - 1)
    assert.strictEqual(at('activation_cosine_similarity', 2, 2), Math.fround(0.1));
    assert.strictEqual(at('necessity', 0, 0), 1);
    for (const [name, m] of Object.entries(denseStats(layers[0], layers[1], true))) assertStatEqual(statToDense(got[name], d, d, name), m, 0.1, name, 0);
  });

  it('relative activation is strict: x equal to 0.2 x max is not active', async () => {
    // layer 0 feature 0: max 5, so lb = 1; the token with x = 1 is not relative-active
    const layers = build(2, [[{ 0: 5 }, { 0: 1 }], [{ 0: 1 }, { 0: 1 }], [{ 0: 1.5 }, { 0: 1 }], [{}, {}]]);
    const max = [Float32Array.of(5, 0), Float32Array.of(1, 0)];
    const col = new CrossLayerCollector({ n_layers: 2, d_sae: 2, checkpoint_tokens: 0, max_activations: max });
    await col.add(layers.map((X) => flat(X, 0, 4)));
    const got = pairStatistics(col, 0);
    // relative-active: layer 0 f0 on tokens {0, 2} (1 is not > 1); layer 1 f0 lb = 0.2 -> tokens {0,1,2}
    assert.strictEqual(statToDense(got.sufficiency_relative_activation, 2, 2, 'suf')[0][0], 1);
    assert.strictEqual(statToDense(got.necessity_relative_activation, 2, 2, 'nec')[0][0], Math.fround(2 / 3));
    assert.strictEqual(statToDense(got.necessity, 2, 2, 'nec0')[0][0], 1);
  });

  it('rejects unequal token counts, wrong d_sae and max activations below the data', async () => {
    const col = new CrossLayerCollector({ n_layers: 2, d_sae: 3, max_activations: [Float32Array.of(1, 1, 1), Float32Array.of(1, 1, 1)] });
    await assert.rejects(col.add([new Float32Array(6), new Float32Array(9)]), /layer 1 has 3 tokens in this batch, layer 0 has 2/);
    await assert.rejects(col.add([new Float32Array(8), new Float32Array(8)]), /not a multiple of d_sae 3/);
    await assert.rejects(col.add([tf.zeros([2, 4]), tf.zeros([2, 4])]), /must end in d_sae 3/);
    await col.add([Float32Array.of(2, 0, 0), Float32Array.of(0, 0, 0)]);
    assert.throws(() => pairStatistics(col, 0), /layer 0 feature 0: observed max activation 2 exceeds the given max_activations value 1/);
    assert.throws(() => new CrossLayerCollector({ n_layers: 1, d_sae: 3 }), /n_layers must be an integer >= 2/);
  });
});
