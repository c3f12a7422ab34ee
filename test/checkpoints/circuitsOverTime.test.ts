/**
 * Circuits across checkpoints: identical checkpoints give identical circuits whose nodes all persist; an SAE
 * with permuted features gives the permuted circuit and the matching carries every node to its partner;
 * the persistence bookkeeping on a hand-made three-checkpoint case.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { SAE } from '../../lib/sae';
import { PromptPairs, SAESet, saeSet } from '../../lib/circuits';
import {
  checkpointCircuit, circuitsOverTime, mapCircuitNode, CheckpointCircuit, circuitsOverTimeTable, finalCircuitNodesTable, circuitsOverTimeSpecs,
} from '../../lib/checkpoints/circuitsOverTime';
import { decoderCosine } from '../../lib/checkpoints/similarity';
import { matchBySimilarity } from '../../lib/checkpoints/match';
import { setupBackend, assertClose } from '../helpers';
import { tinyModel, randomSAE, TOKENS } from '../circuits/tiny';
import { permutation, rng } from './util';

before(setupBackend);

const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre'];
const D_SAE = 12;
const PAIRS: PromptPairs = {
  clean: TOKENS,
  patch: [[1, 5, 9, 2, 13, 3], [4, 4, 17, 1, 8, 10], [12, 3, 3, 19, 7, 15]],
  cleanAnswers: [3, 7, 9],
  patchAnswers: [5, 2, 14],
};
const OPTS = { method: 'atp' as const, nodeThreshold: 0.02, edgeThreshold: 0.001, thresholds: [0.001, 0.01, 0.1] };

/** SAE B with feature i = feature p[i] of A (encoder columns, decoder rows and b_enc permuted). */
function permutedSAE(a: SAE, p: number[]): SAE {
  const idx = tf.tensor1d(p, 'int32');
  const w = {
    W_enc: tf.gather(a.weights.W_enc, idx, 1), W_dec: tf.gather(a.weights.W_dec, idx, 0),
    b_enc: tf.gather(a.weights.b_enc, idx), b_dec: tf.clone(a.weights.b_dec),
  };
  const b = SAE.create({ ...a.cfg }, w);
  tf.dispose([idx, ...Object.values(w)]);
  return b;
}

const featureIds = (c: CheckpointCircuit, h: string) => c.circuit.nodes.filter((n) => n.hook === h && !n.isError).map((n) => n.feature).sort((x, y) => x - y);

test('identical checkpoints: identical circuits, every node persists, matching is the identity', async () => {
  const model = tinyModel(3);
  const saes: SAESet = saeSet(HOOKS.map((h, i) => randomSAE(h, D_SAE, 50 + 10 * i)));
  try {
    const a = await checkpointCircuit(model, saes, PAIRS, { label: 's0', step: 0 }, OPTS);
    const b = await checkpointCircuit(model, saes, PAIRS, { label: 's1', step: 10 }, OPTS);
    assert.ok(a.circuit.nodes.length > 2, `a non-trivial circuit (${a.circuit.nodes.length} nodes incl. y)`);
    assert.deepStrictEqual(b.circuit.nodes, a.circuit.nodes);
    assert.deepStrictEqual(b.circuit.edges, a.circuit.edges);
    assert.strictEqual(b.faithfulness, a.faithfulness);
    // faithfulness at the node threshold is the curve's point there (nodeThreshold added to the thresholds)
    assert.deepStrictEqual(a.curve.points.map((p) => p.threshold), [0.001, 0.01, 0.02, 0.1]);
    const assign = Object.fromEntries(HOOKS.map((h) => [h, matchBySimilarity(decoderCosine(saes.get(h)!, saes.get(h)!)).assignment]));
    for (const h of HOOKS) assert.deepStrictEqual(Array.from(assign[h]), Array.from({ length: D_SAE }, (_, i) => i));
    const r = circuitsOverTime([a, b], [assign], { appearThreshold: -Infinity });
    const n = a.circuit.nodes.length - 1;
    assert.strictEqual(r.perCheckpoint[0].persisting, n);
    assert.strictEqual(r.perCheckpoint[0].persistShare, 1);
    assert.strictEqual(r.perCheckpoint[1].entering, 0);
    assert.strictEqual(r.perCheckpoint[1].persisting, null);
    assert.ok(r.finalNodes.every((x) => x.since === 0));
    assert.strictEqual(r.appearedAt, 0);
  } finally {
    for (const s of saes.values()) s.dispose();
    model.dispose();
  }
});

test('an SAE with permuted features: the permuted circuit, and the matching carries every node to its partner', async () => {
  const model = tinyModel(3);
  const A: SAESet = saeSet(HOOKS.map((h, i) => randomSAE(h, D_SAE, 50 + 10 * i)));
  const perms = HOOKS.map((_, i) => permutation(rng(90 + i), D_SAE));
  const B: SAESet = saeSet(HOOKS.map((h, i) => permutedSAE(A.get(h)!, perms[i])));
  try {
    const a = await checkpointCircuit(model, A, PAIRS, { label: 's0', step: 0 }, OPTS);
    const b = await checkpointCircuit(model, B, PAIRS, { label: 's1', step: 10 }, OPTS);
    const assign: Record<string, Int32Array> = {};
    HOOKS.forEach((h, k) => {
      const p = perms[k];
      const inv = new Array(D_SAE);
      p.forEach((src, i) => (inv[src] = i));
      // node effects: B's feature i is A's feature p[i]; the error node is unchanged
      assertClose(b.nodeEffects[h], [...p.map((src) => a.nodeEffects[h][src]), a.nodeEffects[h][D_SAE]], 1e-4, 1e-3, `${h} node effects`);
      assert.deepStrictEqual(featureIds(b, h), featureIds(a, h).map((j) => inv[j]).sort((x, y) => x - y));
      // decoder matching A -> B recovers the inverse permutation
      assign[h] = matchBySimilarity(decoderCosine(A.get(h)!, B.get(h)!)).assignment;
      assert.deepStrictEqual(Array.from(assign[h]), inv);
    });
    assertClose([b.faithfulness, b.completeness], [a.faithfulness, a.completeness], 1e-4, 1e-3, 'faithfulness');
    const r = circuitsOverTime([a, b], [assign]);
    const n = a.circuit.nodes.length - 1;
    assert.ok(n > 1);
    assert.strictEqual(r.perCheckpoint[0].persisting, n);
    assert.strictEqual(r.perCheckpoint[1].entering, 0);
    for (const x of r.nodes.filter((y) => y.checkpoint === 0)) {
      const k = HOOKS.indexOf(x.hook);
      const expected = x.isError ? `${k}.err` : `${k}.${assign[x.hook][x.feature]}`;
      assert.strictEqual(x.next, expected);
      assert.ok(x.persists);
    }
  } finally {
    for (const s of [...A.values(), ...B.values()]) s.dispose();
    model.dispose();
  }
});

/** A checkpoint circuit with the given node ids at hook blocks.0 (d_sae 4), faithfulness and F(M) - F(empty). */
function handCircuit(t: number, ids: string[], faithfulness: number, modelEffect: number): CheckpointCircuit {
  const h = 'blocks.0.hook_resid_pre';
  const nodes = ids.map((id) => {
    const j = id === 'err' ? 4 : Number(id);
    return { id: id === 'err' ? '0.err' : `0.${id}`, hook: h, feature: j, isError: id === 'err', effect: 0.5 };
  });
  return {
    label: `s${t}`, step: 100 * t, hooks: [h], dSae: { [h]: 4 }, nodeEffects: { [h]: [0, 0, 0, 0, 0] },
    circuit: { nodeThreshold: 0.1, edgeThreshold: 0.1, hooks: [h], edges: [], nodes: [...nodes, { id: 'y', hook: 'y', feature: -1, isError: false, effect: 1 }] },
    curve: { fModel: modelEffect, fEmpty: 0, points: [] }, faithfulness, completeness: 0, metricClean: 0, metricPatch: 0,
  };
}

test('persistence bookkeeping on a hand-made case: persisting, entering, since, appearance', async () => {
  const h = 'blocks.0.hook_resid_pre';
  const circuits = [handCircuit(0, ['1', '3', 'err'], 0.2, 1), handCircuit(1, ['2', '0', 'err'], 0.6, 1), handCircuit(2, ['3', 'err'], 0.9, 1)];
  const assignments = [{ [h]: [2, 1, 3, 0] }, { [h]: [3, 1, 0, 2] }];
  // t0: 1 -> 1 (not in c1), 3 -> 0 (in c1), err -> err; t1: 2 -> 0 (not in c2), 0 -> 3 (in c2), err -> err
  const r = circuitsOverTime(circuits, assignments);
  assert.deepStrictEqual(r.perCheckpoint.map((p) => p.persisting), [2, 2, null]);
  assert.deepStrictEqual(r.perCheckpoint.map((p) => p.entering), [null, 1, 0]);
  assert.deepStrictEqual(r.perCheckpoint.map((p) => p.leaving), [1, 1, null]);
  assert.deepStrictEqual(r.perCheckpoint.map((p) => p.nodes), [3, 3, 2]);
  assert.deepStrictEqual(r.nodes.filter((n) => n.checkpoint === 1).map((n) => [n.id, n.since, n.next, n.persists]), [['0.2', 1, '0.0', false], ['0.0', 0, '0.3', true], ['0.err', 0, '0.err', true]]);
  assert.deepStrictEqual(r.finalNodes.map((n) => [n.id, n.since]), [['0.3', 0], ['0.err', 0]]);
  assert.strictEqual(r.appearedAt, 1);
  assert.strictEqual(circuitsOverTime(circuits, assignments, { minModelEffect: 2 }).appearedAt, null);
  assert.strictEqual(circuitsOverTime(circuits, assignments, { appearThreshold: 0.95 }).appearedAt, null);
  // an unmatched feature (-1) maps to nothing
  assert.strictEqual(mapCircuitNode(circuits[0].circuit.nodes[0], { [h]: [0, -1, 2, 3] }, { [h]: 4 }), null);
  assert.throws(() => circuitsOverTime(circuits, assignments.slice(0, 1)), /3 checkpoints need 2 assignments/);
  const rows = circuitsOverTimeTable(r);
  assert.strictEqual(rows[1].appeared, 'here');
  assert.deepStrictEqual(finalCircuitNodesTable(r).map((x) => x['in circuit since step']), [0, 0]);
  const specs = circuitsOverTimeSpecs(r);
  assert.ok(specs.faithfulness && specs.persistence);
});
