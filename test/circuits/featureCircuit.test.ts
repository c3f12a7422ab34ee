/**
 * featureCircuitForModel on a tiny model (the full-model and empty-circuit metrics against plain forward
 * passes that use no SAE), circuitExamples, and the circuits presets (load and validate offline).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {
  featureCircuitForModel, circuitExamples, saeSet, readSvaJsonl, svaPromptPairs, answerLogitDiff,
} from '../../lib/circuits';
import { loadConfig } from '../../lib/stages/config';
import { validateCircuitsConfig, featureCircuitsInputs, ablationGraphInputs } from '../../lib/stages';
import { resolveRelease } from '../../lib/sae/registry';
import { loadTokenizerFromDir } from '../../lib/tokenizers/tokenizer';
import { setupBackend, REPO_ROOT, tmpDir } from '../helpers';
import { tinyModel, randomSAE, HOOKS, PAIRS } from './tiny';
import * as fs from 'fs';

before(setupBackend);


test('featureCircuitForModel: F(model) is the unmodified metric, F(empty) the metric with the last hook set to the patch mean', async () => {
  const model = tinyModel();
  const saes = saeSet(HOOKS.map((h, i) => randomSAE(h, 12, 2000 + 10 * i)));
  const thresholds = [0.001, 0.01, 0.1];
  const r = await featureCircuitForModel(model, saes, PAIRS, { method: 'atp', nodeThreshold: 0.01, edgeThreshold: 0.001, thresholds });
  // F = mean of logit[clean] - logit[patch] on the clean prompts of the unmodified model
  const mean = (t: tf.Tensor) => t.mean().dataSync()[0];
  const clean = tf.tensor2d(PAIRS.clean, undefined, 'int32');
  const plain = tf.tidy(() => mean(answerLogitDiff(model.forward(clean).logits!, PAIRS.cleanAnswers, PAIRS.patchAnswers)));
  assert.ok(Math.abs(r.faithfulness.fModel - plain) < 1e-4, `F(model) ${r.faithfulness.fModel} vs plain forward ${plain}`);
  // every node mean-ablated: each hook outputs decode(mean f) + mean e = the patch run's mean activation; the last hook decides
  const patch = tf.tensor2d(PAIRS.patch, undefined, 'int32');
  const last = HOOKS[HOOKS.length - 1];
  const { cache } = model.runWithCache(patch, { namesFilter: [last] });
  const mu = tf.mean(cache.get(last), 0);
  const empty = tf.tidy(() => mean(answerLogitDiff(model.forward(clean, { fwdHooks: [[last, (x) => tf.add(tf.zerosLike(x), mu)]] }).logits!, PAIRS.cleanAnswers, PAIRS.patchAnswers)));
  assert.ok(Math.abs(r.faithfulness.fEmpty - empty) < 1e-4, `F(empty) ${r.faithfulness.fEmpty} vs patch-mean forward ${empty}`);
  // the circuit holds exactly the nodes above the threshold, and the curve covers every threshold in order
  const expected = HOOKS.reduce((s, h) => s + r.nodes.get(h)!.filter((v) => Math.abs(v) > 0.01).length, 0);
  assert.strictEqual(r.circuit.nodes.filter((n) => n.id !== 'y').length, expected);
  assert.strictEqual(r.faithfulness.nNodes, expected);
  assert.deepStrictEqual(r.curve.points.map((p) => p.threshold), thresholds);
  assert.ok(r.curve.points[0].nNodes >= r.curve.points[2].nNodes);
  assert.strictEqual(r.edges.length, HOOKS.length - 1);
  assert.strictEqual(r.attribution.tensors, undefined, 'gradients released');
  // one SAE (a checkpoint sweep's single hook): no edges between hooks, the kept nodes feed y directly
  const one = await featureCircuitForModel(model, new Map([[HOOKS[1], saes.get(HOOKS[1])!]]), PAIRS, { method: 'ig', igSteps: 4, nodeThreshold: 0.01, edgeThreshold: 0 });
  assert.deepStrictEqual(one.edges, []);
  const kept1 = one.circuit.nodes.filter((n) => n.id !== 'y');
  assert.deepStrictEqual(one.circuit.edges.map((e) => e.from).sort(), kept1.map((n) => n.id).sort());
  assert.ok(one.circuit.edges.every((e) => e.to === 'y'));
  assert.ok(Math.abs(one.faithfulness.fModel - plain) < 1e-4);
  tf.dispose([clean, patch, mu]);
  cache.dispose();
  for (const s of saes.values()) s.dispose();
  model.dispose();
  await assert.rejects(async () => featureCircuitForModel(model, saes, PAIRS, { method: 'exact' as 'ig', nodeThreshold: 0, edgeThreshold: 0 }), /must be 'atp' or 'ig'/);
});

test('circuitExamples: the largest equal-length group, seeded, capped at nExamples', async () => {
  const tok = loadTokenizerFromDir(path.join(REPO_ROOT, 'data', 'tokenizers', 'gpt2'));
  const records = readSvaJsonl(path.join(REPO_ROOT, 'data', 'circuits', 'sva_gpt2.jsonl'));
  const { groups } = svaPromptPairs(records, tok);
  const ex = circuitExamples(records, tok, { nExamples: 10, seed: 3 });
  assert.strictEqual(ex.length, groups[0].length);
  assert.strictEqual(ex.clean.length, 10);
  assert.strictEqual(ex.otherLengths, groups.slice(1).reduce((s, g) => s + g.clean.length, 0));
  ex.records.forEach((r, i) => {
    const j = groups[0].records.indexOf(r);
    assert.ok(j >= 0, 'drawn from the largest group');
    assert.deepStrictEqual([ex.clean[i], ex.patch[i], ex.cleanAnswers[i], ex.patchAnswers[i]], [groups[0].clean[j], groups[0].patch[j], groups[0].cleanAnswers[j], groups[0].patchAnswers[j]]);
  });
  assert.deepStrictEqual(circuitExamples(records, tok, { nExamples: 10, seed: 3 }).records, ex.records, 'deterministic for a seed');
  assert.strictEqual(circuitExamples(records, tok, { nExamples: 100000 }).clean.length, groups[0].clean.length);
});

test('circuits presets load and validate offline and describe the seeds\' experiments', async () => {
  const gpt2 = loadConfig(path.join(REPO_ROOT, 'configs', 'gpt2-small-circuits.json'));
  validateCircuitsConfig(gpt2, 'gpt2-small-circuits.json');
  assert.strictEqual(gpt2.base.model, 'openai-community/gpt2');
  assert.deepStrictEqual(gpt2.circuits.hooks, ['blocks.4.hook_resid_pre', 'blocks.5.hook_resid_pre', 'blocks.6.hook_resid_pre']);
  assert.deepStrictEqual([gpt2.circuits.ablation.thinning, gpt2.circuits.ablation.pinned, gpt2.circuits.ablation.nSequences], [0.01, [112], 200]);
  assert.strictEqual(resolveRelease(gpt2.circuits.saeRelease, gpt2.circuits.hooks[0]).repoId, 'jbloom/GPT2-Small-SAEs-Reformatted');
  // its agreement data tokenizes into at least nExamples pairs for GPT-2
  const tok = loadTokenizerFromDir(path.join(REPO_ROOT, 'data', 'tokenizers', 'gpt2'));
  const ex = circuitExamples(readSvaJsonl(path.join(REPO_ROOT, gpt2.circuits.attribution.dataset)), tok, { nExamples: gpt2.circuits.attribution.nExamples });
  assert.strictEqual(ex.clean.length, gpt2.circuits.attribution.nExamples);

  const py = loadConfig(path.join(REPO_ROOT, 'configs', 'pythia-70m-circuits.json'));
  validateCircuitsConfig(py, 'pythia-70m-circuits.json');
  assert.strictEqual(py.base.model, 'EleutherAI/pythia-70m-deduped');
  assert.strictEqual(py.circuits.saeRelease, 'pythia-70m-deduped-res-sm');
  assert.deepStrictEqual(py.circuits.hooks, ['blocks.0.hook_resid_pre', ...[0, 1, 2, 3, 4, 5].map((l) => `blocks.${l}.hook_resid_post`)]);
  for (const h of py.circuits.hooks) assert.strictEqual(resolveRelease(py.circuits.saeRelease, h).repoId, 'ctigges/pythia-70m-deduped__res-sm_processed');
  assert.strictEqual(py.circuits.attribution.dataset, '', 'pairs generated for the Pythia tokenizer');

  // the demo default validates; the stage inputs differ between presets
  const demo = loadConfig(path.join(REPO_ROOT, 'configs', 'demo.json'));
  validateCircuitsConfig(demo);
  assert.notDeepStrictEqual(featureCircuitsInputs(demo), featureCircuitsInputs(gpt2));
  assert.notDeepStrictEqual(ablationGraphInputs(demo), ablationGraphInputs(py));
});

test('a bad circuits section is an error naming the key', async () => {
  const f = path.join(tmpDir(), 'c.json');
  const write = (circuits: object) => { fs.writeFileSync(f, JSON.stringify({ name: 'x', circuits })); return loadConfig(f); };
  assert.throws(() => validateCircuitsConfig(write({ attribution: { method: 'exact' } }), 'c.json'), /c\.json: circuits\.attribution\.method must be "atp" or "ig"/);
  assert.throws(() => validateCircuitsConfig(write({ hooks: ['blocks.1.hook_mlp_out'] }), 'c.json'), /circuits\.hooks names 'blocks\.1\.hook_mlp_out', which release 'saelab-demo-res' does not have/);
  assert.throws(() => validateCircuitsConfig(write({ attribution: { thresholds: [0, 0.1] } }), 'c.json'), /circuits\.attribution\.thresholds must be positive/);
  assert.throws(() => validateCircuitsConfig(write({ ablation: { thinning: 2 } }), 'c.json'), /circuits\.ablation\.thinning must be in \(0, 1\]/);
});
