/**
 * Attribution, edges and faithfulness over prompt pairs in chunks (the presets' 100 pairs at GPT-2 /
 * Pythia widths are attributed 64 / 24 pairs at a time): on the tiny model with 7 pairs, chunks of 2 and 3
 * give the same per-position effects, metrics, nodes, edges and faithfulness as one chunk, and those
 * equal values computed independently (hand-written forwards and patches, sums over positions by hand).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { SAE } from '../../lib/sae';
import {
  AttributionResult, PromptPairs, SAESet, attributeNodes, attributeWithEdges, attributionPairsPerChunk, faithfulnessCurve,
  mergeEdgeBlocks, metricWithAblations, patchMeans, saeSet, EdgeBlock,
} from '../../lib/circuits';
import { setupBackend, assertClose } from '../helpers';
import { tinyModel, randomSAE, refEncode, HOOKS, PAIRS } from './tiny';

before(setupBackend);

/** PAIRS and four more of the same length (7 pairs: chunks of 2 and 3 leave a short last chunk). */
const PAIRS7: PromptPairs = {
  clean: [...PAIRS.clean, [2, 6, 1, 9, 3, 4], [7, 7, 2, 5, 16, 1], [0, 11, 4, 8, 2, 9], [15, 3, 6, 6, 1, 18]],
  patch: [...PAIRS.patch, [2, 6, 1, 9, 12, 4], [7, 7, 3, 5, 16, 11], [0, 11, 4, 8, 2, 17], [15, 13, 6, 6, 1, 18]],
  cleanAnswers: [...PAIRS.cleanAnswers, 4, 8, 12, 1],
  patchAnswers: [...PAIRS.patchAnswers, 6, 19, 3, 13],
};

function saes(): SAESet {
  return saeSet(HOOKS.map((h, i) => randomSAE(h, 12, 1000 + 10 * i)));
}

/** Per-example m = logit[last, patch] - logit[last, clean] of a forward with hooks (the whole batch at once). */
function metric(model: HookedTransformer, pairs: PromptPairs, hooks: Array<[string, (x: tf.Tensor) => tf.Tensor | void]> = []): number[] {
  return tf.tidy(() => {
    const l = model.forward(tf.tensor2d(pairs.clean, undefined, 'int32'), { fwdHooks: hooks }).logits!.arraySync() as number[][][];
    const T = pairs.clean[0].length;
    return l.map((row, n) => row[T - 1][pairs.patchAnswers[n]] - row[T - 1][pairs.cleanAnswers[n]]);
  });
}

function sameAttribution(a: AttributionResult, b: AttributionResult, what: string): void {
  assert.deepStrictEqual([a.N, a.T, a.hooks], [b.N, b.T, b.hooks], what);
  assertClose(a.metricClean, b.metricClean, 1e-6, 1e-5, `${what}: metric_clean`);
  assertClose(a.metricPatch, b.metricPatch, 1e-6, 1e-5, `${what}: metric_patch`);
  for (const h of a.hooks) {
    assertClose(a.byHook.get(h)!.effects, b.byHook.get(h)!.effects, 1e-5, 1e-4, `${what}: effects at ${h}`);
    assertClose(a.byHook.get(h)!.nodes, b.byHook.get(h)!.nodes, 1e-5, 1e-4, `${what}: nodes at ${h}`);
  }
}

test('pairs per chunk follow the byte budget: 64 for GPT-2 small\'s 3 x 24,576 at 6 tokens, 24 for Pythia-70m\'s 7 x 32,768', () => {
  assert.strictEqual(attributionPairsPerChunk(6, [24576, 24576, 24576]), 64);
  // 128 MiB / (4 B x 6 x 7 x 32,769) = 24.4
  assert.strictEqual(attributionPairsPerChunk(6, new Array(7).fill(32768)), 24);
  assert.strictEqual(attributionPairsPerChunk(100000, [1 << 20]), 1);
});

test('atp, ig and exact in chunks of 2 and 3 pairs equal one chunk, and hand-written metrics, patches and node sums', async () => {
  const model = tinyModel();
  const s = saes();
  const mClean = metric(model, PAIRS7);
  const mPatch = metric(model, { ...PAIRS7, clean: PAIRS7.patch });
  for (const method of ['atp', 'ig', 'exact'] as const) {
    const whole = await attributeNodes(model, s, PAIRS7, { method, steps: 4, rowsPerPass: 5 });
    assertClose(whole.metricClean, mClean, 1e-5, 1e-5, `${method}: metric_clean by hand`);
    assertClose(whole.metricPatch, mPatch, 1e-5, 1e-5, `${method}: metric_patch by hand`);
    const firsts: number[] = [];
    for (const per of [2, 3]) {
      const chunked = await attributeNodes(model, s, PAIRS7, { method, steps: 4, rowsPerPass: 5, pairsPerChunk: per, onChunk: (c, _p, first) => { firsts.push(first); assert.ok(c.N <= per); } });
      sameAttribution(chunked, whole, `${method} in chunks of ${per}`);
      const { N, T } = chunked;
      for (const h of HOOKS) {
        const D = s.get(h)!.cfg.d_sae;
        const eff = chunked.byHook.get(h)!.effects;
        const nodes = chunked.byHook.get(h)!.nodes;
        for (let k = 0; k <= D; k++) {
          let sum = 0;
          for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) sum += eff[(n * T + t) * (D + 1) + k];
          assert.ok(Math.abs(nodes[k] - sum / N) < 1e-5, `${method}/${per}: nodes[${k}] at ${h} = ${nodes[k]}, by hand ${sum / N}`);
        }
      }
    }
    assert.deepStrictEqual(firsts, [0, 2, 4, 6, 0, 3, 6], `${method}: onChunk sees every chunk once, in order`);
  }
});

test('exact effects of pairs in the last chunk equal hand-written single-feature patches', async () => {
  const model = tinyModel();
  const s = saes();
  const r = await attributeNodes(model, s, PAIRS7, { method: 'exact', pairsPerChunk: 3 });
  const mClean = metric(model, PAIRS7);
  const h = HOOKS[1];
  const sae = s.get(h)!;
  const D = sae.cfg.d_sae;
  const T = r.T;
  const [xc, xp] = [PAIRS7.clean, PAIRS7.patch].map((tokens) => tf.tidy(() => {
    const { cache } = model.runWithCache(tf.tensor2d(tokens, undefined, 'int32'), { namesFilter: [h] });
    const out = tf.keep(cache.get(h).clone());
    cache.dispose();
    return out;
  }));
  const fc = refEncode(sae, xc).arraySync() as number[][][];
  const fp = refEncode(sae, xp).arraySync() as number[][][];
  const Wdec = sae.weights.W_dec.arraySync() as number[][];
  let checked = 0;
  for (const n of [6, 4]) {
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < D; j++) {
        const d = fp[n][t][j] - fc[n][t][j];
        const got = r.byHook.get(h)!.effects[(n * T + t) * (D + 1) + j];
        if (d === 0) { assert.strictEqual(got, 0); continue; }
        // x + d * W_dec[j] at (n, t) only
        const add = (x: tf.Tensor) => {
          const buf = tf.buffer(x.shape as [number, number, number]);
          Wdec[j].forEach((w, c) => buf.set(w * d, n, t, c));
          return tf.add(x, buf.toTensor());
        };
        const want = metric(model, PAIRS7, [[h, add]])[n] - mClean[n];
        assert.ok(Math.abs(got - want) < 1e-4 + 1e-3 * Math.abs(want), `(${n}, ${t}, ${j}): ${got} vs ${want}`);
        checked++;
      }
    }
  }
  tf.dispose([xc, xp]);
  assert.ok(checked > 5, `some features differ: ${checked}`);
});

test('edges from chunks of pairs add up to the edges of one chunk; the kept nodes are their union', async () => {
  const model = tinyModel();
  const s = saes();
  for (const method of ['atp', 'ig'] as const) {
    const whole = await attributeWithEdges(model, s, PAIRS7, { method, steps: 3, nodeThreshold: 0.02, pairsPerChunk: 7 });
    const chunked = await attributeWithEdges(model, s, PAIRS7, { method, steps: 3, nodeThreshold: 0.02, pairsPerChunk: 3 });
    sameAttribution(chunked.attribution, whole.attribution, `${method} with edges`);
    assert.strictEqual(chunked.attribution.tensors, undefined, 'no tensors are left');
    assert.strictEqual(chunked.edges.length, HOOKS.length - 1);
    chunked.edges.forEach((b, i) => {
      const w = whole.edges[i];
      assert.deepStrictEqual([b.up, b.down, b.downNodes], [w.up, w.down, w.downNodes], `${method}: ${b.up} -> ${b.down} nodes`);
      assertClose(b.weights, w.weights, 1e-6, 1e-4, `${method}: ${b.up} -> ${b.down} weights`);
      assert.ok(b.downNodes.length > 1, `${method}: some downstream nodes kept at ${b.down}`);
    });
  }
  // the merge by hand: a node kept in one chunk only keeps that chunk's row; shared nodes add
  const block = (downNodes: number[], weights: number[]): EdgeBlock[] => [{ up: 'a', down: 'b', downNodes, weights: Float32Array.from(weights), dUp: 1 }];
  const merged = mergeEdgeBlocks([block([0, 2], [1, 2, 3, 4]), block([1, 2], [10, 20, 30, 40])]);
  assert.deepStrictEqual(merged[0].downNodes, [0, 1, 2]);
  assert.deepStrictEqual(Array.from(merged[0].weights), [1, 2, 10, 20, 33, 44]);
});

test('faithfulness in chunks: patch means equal the mean over all examples by hand, ablated metrics equal one pass', async () => {
  const model = tinyModel();
  const s = saes();
  const whole = patchMeans(model, s, PAIRS7.patch, 7);
  const chunked = patchMeans(model, s, PAIRS7.patch, 2);
  for (const h of HOOKS) {
    const sae: SAE = s.get(h)!;
    const byHand = tf.tidy(() => {
      const { cache } = model.runWithCache(tf.tensor2d(PAIRS7.patch, undefined, 'int32'), { namesFilter: [h] });
      const f = refEncode(sae, cache.get(h));
      const out = tf.keep(tf.mean(f, 0));
      cache.dispose();
      return out;
    });
    assertClose(chunked.get(h)!.f.dataSync(), byHand.dataSync(), 1e-5, 1e-4, `patch mean of f at ${h}`);
    assertClose(chunked.get(h)!.e.dataSync(), whole.get(h)!.e.dataSync(), 1e-6, 1e-5, `patch mean of e at ${h}`);
    byHand.dispose();
  }
  const keep = new Map(HOOKS.map((h, i) => [h, Uint8Array.from({ length: 13 }, (_, k) => ((k + i) % 3 === 0 ? 1 : 0))]));
  assertClose(metricWithAblations(model, s, PAIRS7, keep, chunked, 3), metricWithAblations(model, s, PAIRS7, keep, whole, 7), 1e-5, 1e-4, 'ablated metric');
  for (const m of [...whole.values(), ...chunked.values()]) tf.dispose([m.f, m.e]);
  // every node kept: the unmodified metric (logit[clean] - logit[patch]) by hand
  const nodes = new Map(HOOKS.map((h) => [h, new Float32Array(13).fill(1)]));
  const curve = await faithfulnessCurve(model, s, PAIRS7, nodes, [0.5]);
  const m = metric(model, PAIRS7);
  assert.ok(Math.abs(curve.fModel + m.reduce((a, b) => a + b, 0) / m.length) < 1e-5, `F(model) ${curve.fModel}`);
});
