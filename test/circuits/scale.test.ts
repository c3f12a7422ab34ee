/**
 * Circuit passes at research scale keep memory bounded: last-position logits only (logitsToKeep), ablation
 * and top-context passes split into row chunks. Checked on the tiny model against independently written
 * references, with chunk sizes that split the batch unevenly.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { ablationEffects, ablationGraph, ablationRowsPerPass, saeSet, topActivatingContexts } from '../../lib/circuits';
import { setupBackend, assertClose } from '../helpers';
import { tinyModel, randomSAE, refEncode, TOKENS } from './tiny';

before(setupBackend);

test('logitsToKeep returns the last positions of the full logits; a loss with it is an error', async () => {
  const model = tinyModel();
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const [N, T] = [TOKENS.length, TOKENS[0].length];
  const full = await model.forward(tokens).logits!.array();
  for (const k of [1, 3, T]) {
    const part = model.forward(tokens, { logitsToKeep: k }).logits!;
    assert.deepStrictEqual(part.shape, [N, k, 20]);
    const want = full.map((row) => row.slice(T - k)).flat(2);
    assertClose(await part.data(), want, 1e-6, 1e-6, `logitsToKeep ${k}`);
  }
  // split passes (maxBatchTokens) concatenate the kept positions the same way
  assertClose(await model.forward(tokens, { logitsToKeep: 1, maxBatchTokens: T }).logits!.data(), full.map((row) => row[T - 1]).flat(), 1e-6, 1e-6, 'split batch');
  assert.throws(() => model.forward(tokens, { logitsToKeep: 1, returnType: 'loss' }), /cannot be combined with a loss/);
  assert.throws(() => model.forward(tokens, { logitsToKeep: T + 1 }), /logitsToKeep must be an integer in \[1, 6\]/);
});

test('ablation rows per pass follow the [rows, T, d_sae] budget', () => {
  // GPT-2 small at seed 003's shapes: 128 tokens, 24,576 features -> 21 rows per 256 MiB pass
  assert.strictEqual(ablationRowsPerPass(128, 24576), Math.floor(256 * 2 ** 20 / (4 * 128 * 24576)));
  assert.strictEqual(ablationRowsPerPass(128, 24576), 21);
  assert.strictEqual(ablationRowsPerPass(1e6, 1e6), 1);
});

test('chunked ablation passes equal a hand-written hook over the whole batch', async () => {
  const model = tinyModel();
  const A = 'blocks.0.hook_resid_pre';
  const B = 'blocks.2.hook_resid_pre';
  const saeA = randomSAE(A, 12, 700);
  const saeB = randomSAE(B, 10, 800);
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const [N, T] = [TOKENS.length, TOKENS[0].length];
  const features = [1, 4, 6, 9, 10];
  // 2 rows per pass: 2 features x 1 sequence, so three sequence chunks and three feature groups
  const r = await ablationEffects(model, saeSet([saeA, saeB]), tokens, { layerHook: A, downstreamHook: B, features, maxRowsPerPass: 2 });
  const readout = (hooks: Array<[string, (x: tf.Tensor) => tf.Tensor | void]>) => {
    let fb: tf.Tensor | undefined;
    const logits = model.forward(tokens, { fwdHooks: [...hooks, [B, (y) => { fb = tf.keep(refEncode(saeB, tf.slice(y, [0, T - 1], [-1, 1]))); }]] }).logits!;
    const lp = tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [-1, 1, -1]), [N, 20]));
    return { fb: tf.reshape(fb!, [N, 10]), lp };
  };
  const clean = readout([]);
  assertClose(r.cleanDownstream, await clean.fb.data(), 1e-6, 1e-5, 'clean downstream');
  assertClose(r.cleanLogprobs, await clean.lp.data(), 1e-6, 1e-5, 'clean log-probs');
  for (let i = 0; i < features.length; i++) {
    const j = features[i];
    const abl = readout([[A, (x) => {
      const f = refEncode(saeA, x);
      return tf.sub(x, tf.mul(tf.slice(f, [0, 0, j], [-1, -1, 1]), tf.slice(saeA.weights.W_dec, [j, 0], [1, -1])));
    }]]);
    assertClose(r.featureEffects.subarray(i * 10, (i + 1) * 10), await tf.mean(tf.sub(abl.fb, clean.fb), 0).data(), 1e-5, 1e-4, `feature_effects row ${i}`);
    assertClose(r.logprobEffects.subarray(i * 20, (i + 1) * 20), await tf.mean(tf.sub(abl.lp, clean.lp), 0).data(), 1e-5, 1e-4, `logprob_effects row ${i}`);
  }
});

test('top activating contexts read in row chunks match the encoder over all contexts', async () => {
  const model = tinyModel();
  const A = 'blocks.1.hook_resid_pre';
  const sae = randomSAE(A, 12, 900);
  const features = [0, 5, 11];
  const got = topActivatingContexts(model, sae, TOKENS, features, { k: 2, window: 2, rowsPerPass: 2 });
  const acts = await refEncode(sae, model.runWithCache(tf.tensor2d(TOKENS, undefined, 'int32'), { namesFilter: [A] }).cache.get(A)).array() as number[][][];
  for (const f of features) {
    // per sequence: first position of its max activation; the k largest positive maxima, largest first
    const best = acts.map((seq, row) => {
      let pos = 0;
      seq.forEach((v, t) => { if (v[f] > seq[pos][f]) pos = t; });
      return { row, pos, act: seq[pos][f] };
    }).filter((b) => b.act > 0).sort((a, b) => b.act - a.act).slice(0, 2);
    const mine = got.get(f)!;
    assert.deepStrictEqual(mine.map((c) => [c.row, c.pos]), best.map((b) => [b.row, b.pos]), `feature ${f}`);
    assertClose(mine.map((c) => c.act), best.map((b) => b.act), 1e-5, 1e-5, `feature ${f} activations`);
  }
});

test("an ablation graph built in 1-row passes equals one built in whole-batch passes", async () => {
  const model = tinyModel();
  const hooks = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.2.hook_resid_pre'];
  const saes = saeSet(hooks.map((h, i) => randomSAE(h, 10, 1000 + 10 * i)));
  const opts = { hooks, pinned: [2, 7], branching: 2, contexts: TOKENS, contextsPerNode: 2 };
  const whole = await ablationGraph(model, saes, TOKENS, opts);
  const split = await ablationGraph(model, saes, TOKENS, { ...opts, maxRowsPerPass: 1 });
  assert.deepStrictEqual(split.nodes.map((n) => n.id), whole.nodes.map((n) => n.id));
  assert.deepStrictEqual(split.edges.map((e) => [e.from, e.to]), whole.edges.map((e) => [e.from, e.to]));
  whole.levels.forEach((l, i) => {
    assertClose(split.levels[i].featureEffects, l.featureEffects, 1e-6, 1e-5, `level ${i} feature effects`);
    assertClose(split.levels[i].logprobEffects, l.logprobEffects, 1e-6, 1e-5, `level ${i} log-prob effects`);
  });
  const ctx = (g: typeof whole) => g.nodes.map((n) => (n.contexts ?? []).map((c) => `${c.row}:${c.pos}:${c.text}`));
  assert.deepStrictEqual(ctx(split), ctx(whole));
  assertClose(split.nodes.flatMap((n) => (n.contexts ?? []).map((c) => c.act)), whole.nodes.flatMap((n) => (n.contexts ?? []).map((c) => c.act)), 1e-6, 1e-5, 'context activations');
});
