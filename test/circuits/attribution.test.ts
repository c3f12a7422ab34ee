/**
 * Node attribution: atp is the first-order term of exact patching (central finite differences with
 * hand-written hooks), exact patching matches hand-written single-node patches, ig converges to exact
 * as steps grow (a model where one node differs), splicing with the error node is an identity, and the CLI.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { SAE } from '../../lib/sae';
import { attributeNodes, identitySpliceHooks, saeSet, PromptPairs, SAESet } from '../../lib/circuits';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { command as attributeCommand } from '../../lib/cli/commands/attribute';
import { setupBackend, assertClose, tmpDir } from '../helpers';
import { tinyModel, randomSAE, refEncode, TOKENS, HOOKS, PAIRS } from './tiny';

before(setupBackend);


function saes(): SAESet {
  return saeSet(HOOKS.map((h, i) => randomSAE(h, 12, 1000 + 10 * i)));
}

/** Per-example m = logit[last, patch] - logit[last, clean] of a forward with hooks, as plain numbers. */
function metric(model: HookedTransformer, tokens: number[][], hooks: Array<[string, (x: tf.Tensor) => tf.Tensor | void]> = []): number[] {
  return tf.tidy(() => {
    const logits = model.forward(tf.tensor2d(tokens, undefined, 'int32'), { fwdHooks: hooks }).logits!;
    const l = logits.arraySync() as number[][][];
    const T = tokens[0].length;
    return l.map((row, n) => row[T - 1][PAIRS.patchAnswers[n]] - row[T - 1][PAIRS.cleanAnswers[n]]);
  });
}

/** Independent SAE state of an unmodified run: f = relu((x - b_dec) W_enc + b_enc), e = x - (f W_dec + b_dec). */
function refState(model: HookedTransformer, sae: SAE, tokens: number[][]): { f: number[][][]; e: number[][][] } {
  return tf.tidy(() => {
    const hook = sae.cfg.metadata.hook_name;
    const { cache } = model.runWithCache(tf.tensor2d(tokens, undefined, 'int32'), { namesFilter: [hook] });
    const x = cache.get(hook);
    const f = refEncode(sae, x);
    const recon = tf.add(tf.matMul(tf.reshape(f, [-1, sae.cfg.d_sae]), sae.weights.W_dec), sae.weights.b_dec).reshape(x.shape);
    const out = { f: f.arraySync() as number[][][], e: tf.sub(x, recon).arraySync() as number[][][] };
    cache.dispose();
    return out;
  });
}

/** A hook adding vector v at (n, t) of the activation. */
function addAt(n: number, t: number, v: number[], shape: number[]): (x: tf.Tensor) => tf.Tensor {
  return (x) => {
    const buf = tf.buffer(shape as [number, number, number]);
    v.forEach((val, d) => buf.set(val, n, t, d));
    return tf.add(x, buf.toTensor());
  };
}

function row(sae: SAE, j: number): number[] {
  return Array.from(tf.slice(sae.weights.W_dec, [j, 0], [1, -1]).dataSync());
}

test('splicing every SAE as decode(f) + e leaves the logits unchanged', async () => {
  const model = tinyModel();
  const s = saes();
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const clean = await model.forward(tokens).logits!.data();
  assertClose(await model.forward(tokens, { fwdHooks: identitySpliceHooks(s) }).logits!.data(), clean, 1e-5, 1e-5);
});

test('atp equals the first-order term of exact patching (central finite differences, every hook)', async () => {
  const model = tinyModel();
  const s = saes();
  const r = await attributeNodes(model, s, PAIRS, { method: 'atp' });
  const [N, T] = [r.N, r.T];
  const mClean = metric(model, PAIRS.clean);
  assertClose(r.metricClean, mClean, 1e-5, 1e-5, 'metric_clean');
  assertClose(r.metricPatch, metric(model, PAIRS.patch), 1e-5, 1e-5, 'metric_patch');
  const eps = 1e-2;
  let checked = 0;
  for (const h of HOOKS) {
    const sae = s.get(h)!;
    const D = sae.cfg.d_sae;
    const c = refState(model, sae, PAIRS.clean);
    const p = refState(model, sae, PAIRS.patch);
    const eff = r.byHook.get(h)!.effects;
    // the largest differing feature at (n, t) for a few positions, and the error node there
    for (const [n, t] of [[0, 4], [1, 5], [2, 5], [1, 3]]) {
      const dF = p.f[n][t].map((v, j) => v - c.f[n][t][j]);
      const j = dF.reduce((best, v, i) => (Math.abs(v) > Math.abs(dF[best]) ? i : best), 0);
      const nodes: Array<[number, number[]]> = [
        [j, row(sae, j).map((w) => w * dF[j])],
        [D, p.e[n][t].map((v, d) => v - c.e[n][t][d])],
      ];
      for (const [k, v] of nodes) {
        const shape = [N, T, v.length];
        const up = metric(model, PAIRS.clean, [[h, addAt(n, t, v.map((x) => eps * x), shape)]])[n];
        const down = metric(model, PAIRS.clean, [[h, addAt(n, t, v.map((x) => -eps * x), shape)]])[n];
        const fd = (up - down) / (2 * eps);
        const atp = eff[(n * T + t) * (D + 1) + k];
        assert.ok(Math.abs(atp - fd) <= 2e-3 + 2e-2 * Math.abs(fd), `${h} (${n}, ${t}, ${k}): atp ${atp} vs finite difference ${fd}`);
        checked++;
      }
    }
    // effects where patch and clean agree are zero; nodes = sum over positions, mean over examples
    const nodes = r.byHook.get(h)!.nodes;
    for (let k = 0; k <= D; k++) {
      let sum = 0;
      for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) sum += eff[(n * T + t) * (D + 1) + k];
      assert.ok(Math.abs(nodes[k] - sum / N) < 1e-5, `nodes[${k}] at ${h}`);
    }
    for (let t = 0; t < 4; t++) for (let k = 0; k <= D; k++) assert.ok(eff[(0 * T + t) * (D + 1) + k] === 0, `example 0 agrees before position 4 at ${h}`);
  }
  assert.strictEqual(checked, 24);
});

test('exact effects equal hand-written single-node patches (m - m_clean)', async () => {
  const model = tinyModel();
  const s = saes();
  const r = await attributeNodes(model, s, PAIRS, { method: 'exact', rowsPerPass: 7 });
  const T = r.T;
  const mClean = metric(model, PAIRS.clean);
  for (const h of [HOOKS[0], HOOKS[2]]) {
    const sae = s.get(h)!;
    const D = sae.cfg.d_sae;
    const c = refState(model, sae, PAIRS.clean);
    const p = refState(model, sae, PAIRS.patch);
    const eff = r.byHook.get(h)!.effects;
    let differing = 0;
    for (const [n, t] of [[0, 4], [1, 3], [2, 5], [0, 5]]) {
      for (let j = 0; j < D; j++) {
        const d = p.f[n][t][j] - c.f[n][t][j];
        const got = eff[(n * T + t) * (D + 1) + j];
        if (d === 0) { assert.ok(got === 0, `${h} (${n}, ${t}, ${j}) does not differ: ${got}`); continue; }
        differing++;
        const m = metric(model, PAIRS.clean, [[h, addAt(n, t, row(sae, j).map((w) => w * d), [3, T, 8])]])[n];
        assert.ok(Math.abs(got - (m - mClean[n])) < 1e-4 + 1e-3 * Math.abs(m - mClean[n]), `${h} (${n}, ${t}, ${j}): ${got} vs ${m - mClean[n]}`);
      }
      const m = metric(model, PAIRS.clean, [[h, addAt(n, t, p.e[n][t].map((v, d) => v - c.e[n][t][d]), [3, T, 8])]])[n];
      const got = eff[(n * T + t) * (D + 1) + D];
      assert.ok(Math.abs(got - (m - mClean[n])) < 1e-4 + 1e-3 * Math.abs(m - mClean[n]), `${h} error node (${n}, ${t}): ${got} vs ${m - mClean[n]}`);
    }
    assert.ok(differing > 5, `some features differ at ${h}`);
  }
});

test('ig converges to exact as steps grow (one differing node); one step is atp', async () => {
  // model whose patch token differs from the clean token in one embedding coordinate k, read by a
  // lossless SAE (W_enc = [I, -I], W_dec = [I; -I]): exactly one feature differs, the error is zero
  const base = tinyModel(11);
  const sd = base.stateDict();
  const T = 6;
  const a = 5;
  const b = 6;
  const WE = sd['embed.W_E'].arraySync() as number[][];
  const Wpos = sd['pos_embed.W_pos'].arraySync() as number[][];
  const x = WE[a].map((v, d) => v + Wpos[T - 1][d]);
  const k = x.reduce((best, v, i) => (Math.abs(v) > Math.abs(x[best]) ? i : best), 0);
  WE[b] = [...WE[a]];
  WE[b][k] += x[k]; // doubles coordinate k at the last position, same sign
  sd['embed.W_E'] = tf.tensor2d(WE);
  const model = HookedTransformer.fromStateDict(base.cfg, sd);
  const eye = tf.eye(8);
  const hook = 'blocks.0.hook_resid_pre';
  const sae = SAE.create({ d_in: 8, d_sae: 16, metadata: { hook_name: hook } }, {
    W_enc: tf.concat([eye, tf.neg(eye)], 1), W_dec: tf.concat([eye, tf.neg(eye)], 0), b_enc: tf.zeros([16]), b_dec: tf.zeros([8]),
  });
  const pairs: PromptPairs = { clean: [[1, 2, 3, 4, 7, a]], patch: [[1, 2, 3, 4, 7, b]], cleanAnswers: [3], patchAnswers: [9] };
  const set = saeSet([sae]);
  const node = (T - 1) * 17 + (x[k] > 0 ? k : 8 + k);
  const exact = (await attributeNodes(model, set, pairs, { method: 'exact' })).byHook.get(hook)!.effects;
  const E = exact[node];
  const total = await (async () => { const r = await attributeNodes(model, set, pairs, { method: 'atp' }); return r.metricPatch[0] - r.metricClean[0]; })();
  assert.ok(Math.abs(E - total) < 1e-4, `the one node carries the whole effect: ${E} vs ${total}`);
  assert.ok(Math.abs(E) > 1e-2, `effect large enough to test: ${E}`);
  for (let i = 0; i < exact.length; i++) if (i !== node) assert.ok(Math.abs(exact[i]) < 1e-5, `exact[${i}] = ${exact[i]} should be 0`);
  const err = async (steps: number) => Math.abs((await attributeNodes(model, set, pairs, { method: 'ig', steps, stepsPerPass: 16 })).byHook.get(hook)!.effects[node] - E);
  const errs: number[] = [];
  for (const steps of [1, 4, 16, 64]) errs.push(await err(steps));
  assert.ok(errs[1] < errs[0] && errs[2] < errs[1] && errs[3] < errs[2], `ig error must shrink with steps: ${errs.join(', ')}`);
  assert.ok(errs[3] < 0.03 * Math.abs(E) + 1e-4, `ig(64) within 3% of exact: error ${errs[3]}, exact ${E}`);
  const atp = (await attributeNodes(model, set, pairs, { method: 'atp' })).byHook.get(hook)!.effects;
  const ig1 = (await attributeNodes(model, set, pairs, { method: 'ig', steps: 1 })).byHook.get(hook)!.effects;
  assertClose(ig1, atp, 1e-5, 1e-4, 'ig with one step = atp');
});

test('prompt pair checks name the problem', async () => {
  const model = tinyModel();
  const s = saes();
  await assert.rejects(async () => attributeNodes(model, s, { ...PAIRS, patch: [[1, 2]] }, { method: 'atp' }), /1 patch prompts|prefixes must have equal length/);
  await assert.rejects(async () => attributeNodes(model, s, { ...PAIRS, cleanAnswers: [1] }, { method: 'atp' }), /one answer each per prompt/);
  await assert.rejects(async () => attributeNodes(model, s, { ...PAIRS, patchAnswers: [1, 2, 99] }, { method: 'atp' }), /outside the vocabulary/);
  await assert.rejects(async () => attributeNodes(model, s, PAIRS, { method: 'exact', keepTensors: true }), /atp or ig/);
});

test('saelab attribute writes effects, nodes and metrics as the library computes them', async () => {
  const dir = tmpDir();
  const modelDir = path.join(dir, 'model');
  await tinyModel().saveHuggingFace(modelDir);
  const s = saes();
  const args = ['--model', modelDir];
  for (const h of HOOKS.slice(0, 2)) {
    await s.get(h)!.save(path.join(dir, h));
    args.push('--sae', `${h}=${path.join(dir, h)}`);
  }
  const out = path.join(dir, 'attr.safetensors');
  const code = await attributeCommand.run([...args, '--clean', PAIRS.clean.map((r) => r.join(' ')).join(';'), '--patch', PAIRS.patch.map((r) => r.join(',')).join(';'),
    '--clean-answer', PAIRS.cleanAnswers.join(','), '--patch-answer', PAIRS.patchAnswers.join(','), '--method', 'ig', '--steps', '3', '--out', out]);
  assert.strictEqual(code, 0);
  const loaded = await HookedTransformer.fromPretrained(modelDir);
  const r = await attributeNodes(loaded, saeSet([s.get(HOOKS[0])!, s.get(HOOKS[1])!]), PAIRS, { method: 'ig', steps: 3 });
  const f = SafetensorsFile.open(out);
  for (const h of HOOKS.slice(0, 2)) {
    assert.deepStrictEqual(f.info(`effects.${h}`).shape, [3, 6, 13]);
    assert.deepStrictEqual(f.info(`nodes.${h}`).shape, [13]);
    assertClose(f.readFloat32(`effects.${h}`), r.byHook.get(h)!.effects, 1e-6, 1e-5, `effects.${h}`);
    assertClose(f.readFloat32(`nodes.${h}`), r.byHook.get(h)!.nodes, 1e-6, 1e-5, `nodes.${h}`);
  }
  assertClose(f.readFloat32('metric_clean'), r.metricClean, 1e-6, 1e-5);
  assertClose(f.readFloat32('metric_patch'), r.metricPatch, 1e-6, 1e-5);
  f.close();
  await assert.rejects(attributeCommand.run([...args, '--clean', '1 2', '--patch', '1 3', '--clean-answer', '1', '--patch-answer', '2', '--method', 'grad', '--out', out]), /--method must be one of atp, ig, exact/);
});
