/**
 * Notebooks 08 (ablation graph) and 09 (feature circuits) run headless on the demo world; their
 * artifacts are checked against numbers recomputed here (a hand-written ablation hook, sums of the saved
 * per-position effects, the unmodified model's metric).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { runPipeline } from '../../lib/pipeline/run';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from './pages';
import { setupStage } from '../../lib/notebook/stage';
import { featureCircuitsStage, ablationGraphStage, readTokens } from '../../lib/stages';
import { loadModelAndSAEs } from '../../lib/circuits';
import { DEFAULT_CIRCUITS_CONFIG } from '../../lib/stages/config';
import { setupBackend } from '../helpers';

before(setupBackend);

type Output = { output_type: string; data?: Record<string, unknown> };
function outputs(file: string): Output[] {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8'));
  return nb.cells.flatMap((c: { outputs?: Output[] }) => c.outputs ?? []);
}
const json = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
/** A MIME value as stored in .ipynb (a string, or a list of lines). */
const mimeText = (v: unknown) => (Array.isArray(v) ? v.join('') : String(v ?? ''));
const imageOutputs = (outs: Output[]) => outs.filter((o) => o.data && 'image/png' in o.data && !('application/vnd.vegalite.v5+json' in o.data));

test('notebooks 08-09 run headless on the demo world: graphs, plots, effects and faithfulness', async () => {
  const runName = `test-circuits-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  const cfg = DEFAULT_CIRCUITS_CONFIG;
  try {
    const r = await runPipeline({ from: '08', to: '09', runName, log: () => {} });
    assert.ok(r.ok, `pipeline failed: ${JSON.stringify(r.failure)}`);
    console.log(`circuits notebooks: ${r.stages.map((s) => `${s.name} ${s.seconds.toFixed(0)} s`).join(', ')}`);

    // ---- 08: the graph drawn inline, tables, artifacts
    const a = path.join(runDir, '08_ablation_graph');
    const outs8 = outputs(path.join(runDir, '08_ablation_graph.ipynb'));
    const graphs = imageOutputs(outs8);
    assert.strictEqual(graphs.length, 1, 'one inline graph');
    assert.match(mimeText(graphs[0].data!['image/png']), /^iVBORw0KGgo/, 'the graph drawn as a PNG');
    await assertPagesLookRight(runDir, r.stages.map((s) => s.name));
    assert.ok(outs8.filter((o) => o.data && mimeText(o.data['text/html']).includes('<table')).length >= 3, '08 shows its tables');
    for (const f of ['graph.svg', 'graph.dot', 'graph.json', 'effects.safetensors', 'tokens.safetensors', 'results.json', 'manifest.json']) assert.ok(fs.existsSync(path.join(a, f)), `08 wrote ${f}`);
    const g = json(path.join(a, 'graph.json')) as { hooks: string[]; nodes: Array<{ id: string; hook: string; feature: number; contexts: unknown[] }>; edges: Array<{ from: string; to: string; effect: number }> };
    const dot = fs.readFileSync(path.join(a, 'graph.dot'), 'utf8');
    for (const n of g.nodes) assert.ok(dot.includes(`"${n.id}"`), `node ${n.id} in graph.dot`);
    assert.ok(fs.readFileSync(path.join(a, 'graph.svg'), 'utf8').includes('<svg'));
    assert.deepStrictEqual(g.hooks, cfg.hooks);
    const eff = SafetensorsFile.open(path.join(a, 'effects.safetensors'));
    const first = cfg.hooks[0];
    const second = cfg.hooks[1];
    const picks = Array.from(eff.readRaw(`features.${first}`).data as Int32Array);
    assert.strictEqual(picks.length, Math.max(1, Math.round(cfg.ablation.thinning * 512)), 'thinning fraction of the first SAE');
    const fe = eff.readRaw(`feature_effects.${first}.${second}`);
    assert.deepStrictEqual(fe.shape, [picks.length, 512]);
    assert.deepStrictEqual(eff.info(`logprob_effects.${first}`).shape, [picks.length, 1024]);
    const feData = fe.data as Float32Array;
    // edges: the top-`branching` |effect| downstream features of each ablated feature's row
    picks.forEach((j, row) => {
      const rowVals = Array.from(feData.subarray(row * 512, (row + 1) * 512));
      const top = rowVals.map((v, k) => [k, Math.abs(v)]).sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, cfg.ablation.branching).map((x) => `1.${x[0]}`).sort();
      const got = g.edges.filter((e) => e.from === `0.${j}`).map((e) => e.to).sort();
      assert.deepStrictEqual(got, top, `edges of 0.${j}`);
    });
    // one row recomputed with a hand-written ablation: x - f_j W_dec[j] at every position (standard SAE, no normalisation)
    const { tokens, shape } = readTokens(path.join(a, 'tokens.safetensors'));
    const { model, saes } = await loadModelAndSAEs('saelab/demo-base', cfg.hooks.slice(0, 2).map((h) => [h, `${cfg.saeRelease}:${h}`]));
    const up = saes.get(first)!;
    const down = saes.get(second)!;
    const j = picks[0];
    const tk = tf.tensor2d(tokens, shape, 'int32');
    const readLast = (hooks: Array<[string, (x: tf.Tensor) => tf.Tensor | void]>) => {
      const { cache } = model.runWithCache(tk, { namesFilter: [second], fwdHooks: hooks, stopAtLayer: 2, returnType: 'none' });
      const x = cache.get(second) as tf.Tensor3D;
      const T = x.shape[1];
      const f = tf.tidy(() => {
        const lastX = tf.reshape(tf.slice(x, [0, T - 1, 0], [-1, 1, -1]), [-1, x.shape[2]]);
        return tf.relu(tf.add(tf.matMul(tf.sub(lastX, down.weights.b_dec), down.weights.W_enc), down.weights.b_enc));
      });
      cache.dispose();
      return f;
    };
    const clean = readLast([]);
    const ablated = readLast([[first, (x) => tf.tidy(() => {
      const flat = tf.reshape(x, [-1, x.shape[2] as number]);
      const pre = tf.add(tf.matMul(tf.sub(flat, up.weights.b_dec), up.weights.W_enc), up.weights.b_enc);
      const fj = tf.slice(tf.relu(pre), [0, j], [-1, 1]); // [rows, 1]
      const wj = tf.slice(up.weights.W_dec, [j, 0], [1, -1]); // [1, d]
      return tf.reshape(tf.sub(flat, tf.matMul(fj, wj)), x.shape);
    })]]);
    const expected = tf.tidy(() => tf.mean(tf.sub(ablated, clean), 0).dataSync() as Float32Array);
    const got = feData.subarray(0, 512);
    let maxErr = 0;
    let maxAbs = 0;
    for (let k = 0; k < 512; k++) { maxErr = Math.max(maxErr, Math.abs(got[k] - expected[k])); maxAbs = Math.max(maxAbs, Math.abs(expected[k])); }
    assert.ok(maxErr <= 1e-4 + 1e-3 * maxAbs, `feature_effects row of ${j}: max error ${maxErr} (max |effect| ${maxAbs})`);
    tf.dispose([tk, clean, ablated]);
    eff.close();
    for (const s of saes.values()) s.dispose();
    model.dispose();

    // ---- 09: plots with SVG, the circuit graph, tables, results
    const c = path.join(runDir, '09_feature_circuits');
    const outs9 = outputs(path.join(runDir, '09_feature_circuits.ipynb'));
    const plots = outs9.filter((o) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
    assert.strictEqual(plots.length, 4, 'three agreement scatters and the faithfulness curves');
    for (const p of plots) assert.match(mimeText(p.data!['image/png']), /^iVBORw0KGgo/, 'plot carries its PNG');
    assert.strictEqual(imageOutputs(outs9).length, 1, 'the circuit graph inline');
    assert.ok(outs9.filter((o) => o.data && mimeText(o.data['text/html']).includes('<table')).length >= 6, '09 shows its tables');
    for (const f of ['results.json', 'node_effects.safetensors', 'edges.safetensors', 'circuit.json', 'circuit.dot', 'circuit.svg', 'examples.jsonl', 'manifest.json']) assert.ok(fs.existsSync(path.join(c, f)), `09 wrote ${f}`);
    const res = json(path.join(c, 'results.json'));
    const total = 4 * 513;
    assert.deepStrictEqual([res.faithfulness.fullModel.faithfulness, res.faithfulness.fullModel.completeness, res.faithfulness.fullModel.nNodes], [1, 0, total]);
    assert.deepStrictEqual([res.faithfulness.empty.faithfulness, res.faithfulness.empty.completeness, res.faithfulness.empty.nNodes], [0, 1, 0]);
    // F(model) (mean logit[clean] - logit[patch] with every node kept) = -(mean m on the clean run) from the attribution
    assert.ok(Math.abs(res.faithfulness.fModel + res.metric.clean_mean) < 1e-4, `F(model) ${res.faithfulness.fModel} vs -m_clean ${res.metric.clean_mean}`);
    assert.ok(res.metric.total_effect > 0.3, `the demo model tells he/she from they: total effect ${res.metric.total_effect}`);
    assert.strictEqual(res.examples.n, 40);
    for (const k of ['atp', 'ig', 'exact']) assert.deepStrictEqual(res.faithfulness.curves[k].map((p: { threshold: number }) => p.threshold), cfg.attribution.thresholds);
    // ig at a single residual hook integrates the whole clean -> patch path: its nodes add up to the total effect
    for (const row of res.effectSums) assert.ok(Math.abs(row.ig - res.metric.total_effect) < 0.05 * res.metric.total_effect, `${row.hook}: ig sum ${row.ig} vs ${res.metric.total_effect}`);
    const agree = res.agreement.find((x: { x: string; y: string; level: string }) => x.x === 'atp' && x.y === 'exact' && x.level === 'nodes');
    assert.ok(agree.r > 0.9, `atp vs exact r ${agree.r}`);
    // node effects: nodes = per-position effects summed over positions, mean over examples; the circuit = nodes above the threshold
    const ne = SafetensorsFile.open(path.join(c, 'node_effects.safetensors'));
    const circuit = json(path.join(c, 'circuit.json')) as { nodes: Array<{ id: string; hook: string; feature: number }> };
    let expectedNodes = 0;
    for (const h of cfg.hooks) {
      const e = ne.readRaw(`effects.ig.${h}`);
      const [N, T, D1] = e.shape;
      assert.deepStrictEqual([N, D1], [40, 513]);
      const nodes = ne.readRaw(`nodes.ig.${h}`).data as Float32Array;
      const ed = e.data as Float32Array;
      for (const k of [0, 100, 512]) {
        let s = 0;
        for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) s += ed[(n * T + t) * D1 + k];
        assert.ok(Math.abs(s / N - nodes[k]) < 1e-5, `${h} node ${k}`);
      }
      const kept = Array.from(nodes.keys()).filter((k) => Math.abs(nodes[k]) > cfg.attribution.nodeThreshold);
      expectedNodes += kept.length;
      assert.deepStrictEqual(circuit.nodes.filter((n) => n.hook === h).map((n) => n.feature).sort((x, y) => x - y), kept);
    }
    assert.strictEqual(res.circuit.nodes, expectedNodes);
    assert.deepStrictEqual(ne.info('metric_clean').shape, [40]);
    ne.close();
    assert.ok(fs.readFileSync(path.join(c, 'circuit.svg'), 'utf8').includes('<svg'));

    // reruns with the same config reuse both stages
    process.env.SAELAB_RUN_DIR = runDir;
    const again = await featureCircuitsStage(await setupStage('09_feature_circuits', { quiet: true }));
    assert.ok(again.reused && again.svg.includes('<svg'));
    assert.deepStrictEqual(again.faithfulness, res.faithfulness);
    assert.ok((await ablationGraphStage(await setupStage('08_ablation_graph', { quiet: true }))).reused);
  } finally {
    delete process.env.SAELAB_RUN_DIR;
    if (!process.env.SAELAB_KEEP_TEST_RUN) fs.rmSync(runDir, { recursive: true, force: true });
  }
});
