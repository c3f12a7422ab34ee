import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { runSweep, runSweepJob, sweepSummaries, loadSweepSAE, SweepSpec, CheckpointDataProvider, SweepCheckpoint } from '../../lib/checkpoints/sweep';
import { sweepTable, sweepSpecs } from '../../lib/checkpoints/sweepReport';
import { sweepChainInput } from '../../lib/checkpoints/sweepChains';
import { analyzeChains } from '../../lib/checkpoints/chains';
import { InMemorySource } from '../../lib/train/sources';
import { rng, randn } from './util';

before(setupBackend);

const D_IN = 8;
const D_SAE = 16;

/** Synthetic activations of "checkpoint" k: sparse combinations of a dictionary that drifts with k. */
function activations(k: number, n: number, seed: number): Float32Array {
  const r = rng(1000 + seed);
  const dict = randn(rng(77), 12 * D_IN);
  const drift = randn(rng(78 + k), 12 * D_IN);
  for (let i = 0; i < dict.length; i++) dict[i] += 0.3 * k * drift[i];
  const out = new Float32Array(n * D_IN);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < 12; j++) {
      if (r() < 0.2) {
        const a = 1 + r();
        for (let d = 0; d < D_IN; d++) out[t * D_IN + d] += a * dict[j * D_IN + d];
      }
    }
  }
  return out;
}

const checkpoints: SweepCheckpoint[] = [{ label: 'step0', step: 0, revision: 'step0' }, { label: 'step100', step: 100, revision: 'step100' }];
const spec: SweepSpec = {
  hook: 'blocks.0.hook_resid_pre',
  checkpoints,
  training: { dSae: D_SAE, trainingTokens: 48 * 64, trainBatchSizeTokens: 64, nBatchesInBuffer: 4, l1Coefficient: 0.01, lr: 1e-2, seed: 5, logEvery: 4, nCheckpoints: 4 },
  data: { synthetic: 'drifting dictionary' },
};

function provider(calls: string[]): CheckpointDataProvider {
  return async (c) => {
    calls.push(c.label);
    const k = c.step / 100;
    return {
      train: new InMemorySource(activations(k, 512, 1), D_IN, { chunkTokens: 128 }),
      eval: activations(k, 256, 2),
      ce: () => ({ cleanLoss: 2, splicedLoss: 2.5 + k, delta: 0.5 + k, zeroLoss: 4, ceLossScore: (4 - 2.5 - k) / (4 - 2), batches: 1, tokens: 10, nonFiniteBatches: 0, nonFinite: [] }),
    };
  };
}

/** L0, dead share and explained variance computed here in plain JS from the saved SAE weights (ReLU SAE, no normalisation). */
function evaluateByHand(w: Record<string, Float32Array>, x: Float32Array): { l0: number; dead: number; ev: number; fired: Uint8Array } {
  const n = x.length / D_IN;
  let active = 0;
  const fired = new Uint8Array(D_SAE);
  let sse = 0;
  const mean = new Float64Array(D_IN);
  for (let t = 0; t < n; t++) for (let d = 0; d < D_IN; d++) mean[d] += x[t * D_IN + d] / n;
  let sst = 0;
  for (let t = 0; t < n; t++) {
    const f = new Float64Array(D_SAE);
    for (let j = 0; j < D_SAE; j++) {
      let s = w.b_enc[j];
      for (let d = 0; d < D_IN; d++) s += (x[t * D_IN + d] - w.b_dec[d]) * w.W_enc[d * D_SAE + j];
      f[j] = Math.max(0, s);
      if (f[j] > 0) {
        active++;
        fired[j] = 1;
      }
    }
    for (let d = 0; d < D_IN; d++) {
      let y = w.b_dec[d];
      for (let j = 0; j < D_SAE; j++) y += f[j] * w.W_dec[j * D_IN + d];
      sse += (x[t * D_IN + d] - y) ** 2;
      sst += (x[t * D_IN + d] - mean[d]) ** 2;
    }
  }
  return { l0: active / n, dead: fired.reduce((a, b) => a + (b ? 0 : 1), 0) / D_SAE, ev: 1 - sse / sst, fired };
}

test('a sweep trains one SAE per checkpoint, summarises it, and a rerun recomputes nothing', async () => {
  const dir = tmpDir();
  const calls: string[] = [];
  const first = await runSweep(dir, spec, provider(calls));
  assert.deepStrictEqual(calls, ['step0', 'step100']);
  assert.deepStrictEqual(first.map((r) => [r.reused, r.stepsRun]), [[false, 48], [false, 48]]);
  const decoders: Float32Array[] = [];
  const fired: Uint8Array[] = [];
  for (const [k, r] of first.entries()) {
    const sae = await loadSweepSAE(dir, spec, r.label);
    assert.strictEqual(sae.cfg.metadata.hook_name, spec.hook);
    const w = Object.fromEntries(Object.entries(sae.weights).map(([n, t]) => [n, t.dataSync() as Float32Array]));
    const hand = evaluateByHand(w, activations(k, 256, 2));
    decoders.push(w.W_dec);
    fired.push(hand.fired);
    assertClose([r.l0, r.dead_fraction, r.explained_variance], [hand.l0, hand.dead, hand.ev], 1e-4, 1e-4, r.label);
    assert.ok(r.explained_variance > 0.3, `${r.label}: explained variance ${r.explained_variance}`);
    assertClose([r.ce_loss_score!], [(4 - 2.5 - k) / 2], 1e-9);
    sae.dispose();
  }
  const summaryFile = path.join(dir, 'step0', 'summary.json');
  const mtime = fs.statSync(summaryFile).mtimeMs;
  const weightsMtime = fs.statSync(path.join(dir, 'step0', 'sae', 'sae_weights.safetensors')).mtimeMs;
  const again = await runSweep(dir, spec, provider(calls));
  assert.deepStrictEqual(calls, ['step0', 'step100'], 'no data was requested on the rerun');
  assert.deepStrictEqual(again.map((r) => [r.reused, r.stepsRun]), [[true, 0], [true, 0]]);
  assert.strictEqual(fs.statSync(summaryFile).mtimeMs, mtime);
  assert.strictEqual(fs.statSync(path.join(dir, 'step0', 'sae', 'sae_weights.safetensors')).mtimeMs, weightsMtime);

  const rows = sweepSummaries(dir, spec);
  const table = sweepTable(rows);
  assert.deepStrictEqual(table.map((r) => [r.checkpoint, r.step]), [['step0', 0], ['step100', 100]]);
  const specs = sweepSpecs(rows) as unknown as Record<string, { data: { values: Array<{ x: number; y: number }> } }>;
  assert.deepStrictEqual(specs.ceLossScore.data.values.map((v) => [v.x, v.y]), [[0, 0.75], [100, 0.25]]);
  assert.deepStrictEqual(specs.deadShare.data.values.map((v) => v.y), rows.map((r) => r.dead_fraction));

  // chains over the sweep: decoder cosine between the two checkpoints (one entry checked by hand), live masks = fired features
  const ci = await sweepChainInput(dir, spec, 'decoder');
  const cos = (u: Float32Array, i: number, v: Float32Array, j: number) => {
    let dot = 0, nu = 0, nv = 0;
    for (let d = 0; d < D_IN; d++) {
      dot += u[i * D_IN + d] * v[j * D_IN + d];
      nu += u[i * D_IN + d] ** 2;
      nv += v[j * D_IN + d] ** 2;
    }
    return dot / Math.sqrt(nu * nv);
  };
  assertClose([ci.consecutive[0].values[3 * D_SAE + 5]], [cos(decoders[0], 3, decoders[1], 5)], 1e-5);
  assert.deepStrictEqual(ci.alive!.map((a) => Array.from(a)), fired.map((f) => Array.from(f)));
  const act = await sweepChainInput(dir, spec, 'activation');
  assert.deepStrictEqual([act.consecutive[0].rows, act.consecutive[0].cols], [D_SAE, D_SAE]);
  const chains = analyzeChains(act);
  assert.strictEqual(chains.events.length, 2);
  assert.strictEqual(chains.events[0].alive, fired[0].reduce((a, b) => a + b, 0));

  // a changed config is refused rather than silently mixed with old results
  const changed = { ...spec, training: { ...spec.training, l1Coefficient: 0.1 } };
  await assert.rejects(runSweepJob(dir, changed, 0, provider(calls)), /made with a different sweep config/);
});

test('an interrupted checkpoint job resumes from its trainer checkpoint to the same SAE', async () => {
  const whole = tmpDir();
  const cut = tmpDir();
  const calls: string[] = [];
  const ref = await runSweepJob(whole, spec, 1, provider(calls));
  const partial = await runSweepJob(cut, spec, 1, provider(calls), { stopAfterSteps: 30 });
  assert.strictEqual(partial.stepsRun, 30);
  assert.ok(!fs.existsSync(path.join(cut, 'step100', 'summary.json')));
  // thresholds every 768 tokens (12 steps); a checkpoint is saved once tokens exceed one: after steps 13, 25, 37.
  // The last one before the cut (step 30) is step 25, so 48 - 25 steps remain.
  const resumed = await runSweepJob(cut, spec, 1, provider(calls));
  assert.strictEqual(resumed.stepsRun, 23);
  const a = await loadSweepSAE(whole, spec, 'step100');
  const b = await loadSweepSAE(cut, spec, 'step100');
  for (const n of Object.keys(a.weights)) assertClose(b.weights[n].dataSync(), a.weights[n].dataSync(), 1e-6, 1e-5, n);
  assertClose([resumed.l0, resumed.explained_variance], [ref.l0, ref.explained_variance], 1e-5, 1e-5);
  a.dispose();
  b.dispose();
});

test('an interrupted job of another config is never resumed: refused, or deleted and recomputed with recomputeStale', async () => {
  const dir = tmpDir();
  const calls: string[] = [];
  const partial = await runSweepJob(dir, spec, 1, provider(calls), { stopAfterSteps: 30 });
  assert.strictEqual(partial.stepsRun, 30);
  const changed = { ...spec, training: { ...spec.training, l1Coefficient: 0.1 } };
  // no summary yet: the started folder (job.json) still identifies the old config
  await assert.rejects(runSweepJob(dir, changed, 1, provider(calls)), /made with a different sweep config/);
  const fresh = await runSweepJob(dir, changed, 1, provider(calls), { recomputeStale: true });
  assert.strictEqual(fresh.stepsRun, 48, 'all 48 steps from scratch, not resumed from the old trainer checkpoint');
  // the same as a clean run of the changed config
  const ref = await runSweepJob(tmpDir(), changed, 1, provider(calls));
  assertClose([fresh.l0, fresh.explained_variance], [ref.l0, ref.explained_variance], 1e-6, 1e-6);
});
