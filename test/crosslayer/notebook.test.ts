import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { runPipeline } from '../../lib/pipeline/run';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from '../notebooks/pages';
import { ACTIVATION_STATS, DECODER_STAT } from '../../lib/analysis/crosslayer';
import { loadConfig } from '../../lib/stages/config';
import { crossLayerStage, STAGE_CROSSLAYER } from '../../lib/stages/crosslayer';
import { initBackend } from '../../lib/backend';

const json = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

test('notebook 07 runs headless on the demo world and writes the documented files and plots', async () => {
  const runName = `test-crosslayer-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  const start = Date.now();
  try {
    const r = await runPipeline({ from: '07', to: '07', runName, log: () => {} });
    assert.ok(r.ok, `notebook 07 failed: ${JSON.stringify(r.failure)}`);
    console.log(`notebook 07 on the demo world: ${((Date.now() - start) / 1000).toFixed(0)} s`);
    const nb = json(path.join(runDir, '07_crosslayer_features.ipynb'));
    const outs: Array<{ data?: Record<string, unknown> }> = nb.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []);
    const plots = outs.filter((o) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
    assert.ok(plots.length >= 4 + 10, `dead features, dead pairs, 10 histograms, pass-through and graph: got ${plots.length} plots`);
    for (const p of plots) assert.match([p.data!['image/png']].flat().join(''), /^iVBORw0KGgo/, 'every plot carries its PNG');
    await assertPagesLookRight(runDir, ['07_crosslayer_features']);
    assert.ok(outs.some((o) => o.data && String(o.data['text/html'] ?? '').includes('<table')), 'tables shown');
    assert.ok(outs.some((o) => o.data && String(o.data['text/markdown'] ?? '').includes('graph.html')), 'the browser is linked');

    const dir = path.join(runDir, '07_crosslayer_features');
    const nL = 4, d = 512, T = 32768, steps = 8;
    // max_activations float32 [n_layers, d_sae]
    const mf = SafetensorsFile.open(path.join(dir, 'max_activations.safetensors'));
    assert.deepStrictEqual(mf.info('max_activations'), { ...mf.info('max_activations'), dtype: 'F32', shape: [nL, d] });
    const maxAct = mf.readFloat32('max_activations');
    mf.close();
    // dead_features int64 [steps, 9, n_layers]; dead_feature_pairs int64 [5, n_layers - 1, steps]; tokens int64 [steps]
    const df = SafetensorsFile.open(path.join(dir, 'dead_features.safetensors'));
    const shapes = Object.fromEntries(df.names().map((n) => [n, [df.info(n).dtype, df.info(n).shape]]));
    assert.deepStrictEqual(shapes, {
      dead_features: ['I64', [steps, 9, nL]], dead_feature_pairs: ['I64', [5, nL - 1, steps]], tokens: ['I64', [steps]],
      feature_thresholds: ['I64', [9]], pair_thresholds: ['I64', [5]],
    });
    const num = (name: string) => Array.from(df.readRaw(name).data as BigInt64Array, Number);
    assert.deepStrictEqual(num('tokens'), Array.from({ length: steps }, (_, k) => (k + 1) * 4096));
    const deadF = num('dead_features');
    const deadP = num('dead_feature_pairs');
    df.close();
    // after all T tokens, "count <= 0" features are exactly those whose max activation is 0 (SAE codes are >= 0)
    const neverActive = Array.from({ length: nL }, (_, L) => maxAct.subarray(L * d, (L + 1) * d).reduce((a, v) => a + (v > 0 ? 0 : 1), 0));
    assert.deepStrictEqual(Array.from({ length: nL }, (_, L) => deadF[(steps - 1) * 9 * nL + L]), neverActive);
    for (let P = 0; P < nL - 1; P++) {
      const last = deadP[P * steps + steps - 1];
      assert.ok(last >= d * d - (d - neverActive[P]) * (d - neverActive[P + 1]), 'dead pairs include every pair of a dead feature');
      for (let k = 1; k < steps; k++) assert.ok(deadP[P * steps + k] <= deadP[P * steps + k - 1], 'dead pairs never grow with tokens');
    }

    // pair files: <stat>.indices int32 [nnz, 2] (row-major order), <stat>.values float32 [nnz]
    const stats = [...ACTIVATION_STATS, DECODER_STAT];
    const pearson: Array<{ idx: Int32Array; val: Float32Array }> = [];
    for (let P = 0; P < nL - 1; P++) {
      const f = SafetensorsFile.open(path.join(dir, `pair_${P}_${P + 1}.safetensors`));
      assert.deepStrictEqual(f.names().sort(), stats.flatMap((s) => [`${s}.indices`, `${s}.values`]).sort());
      for (const s of stats) {
        const nnz = f.info(`${s}.values`).shape[0];
        assert.deepStrictEqual([f.info(`${s}.indices`).dtype, f.info(`${s}.indices`).shape, f.info(`${s}.values`).dtype], ['I32', [nnz, 2], 'F32'], `${P} ${s}`);
        const idx = f.readRaw(`${s}.indices`).data as Int32Array;
        const val = f.readFloat32(`${s}.values`);
        const clamp = s === DECODER_STAT ? 0.4 : 0.1;
        for (let k = 0; k < nnz; k++) {
          assert.ok(Math.abs(val[k]) >= clamp && idx[2 * k] < d && idx[2 * k + 1] < d, `${P} ${s} entry ${k}`);
          if (k > 0) assert.ok(idx[2 * k] * d + idx[2 * k + 1] > idx[2 * k - 2] * d + idx[2 * k - 1], `${P} ${s}: row-major order`);
        }
        if (s === 'pearson_correlation') pearson.push({ idx, val });
      }
      f.close();
    }

    // pass-through recomputed from the stored Pearson values
    const pass = json(path.join(dir, 'pass_through.json')) as Array<{ layer: number; threshold: number; count: number }>;
    for (const row of pass) {
      const best = new Float32Array(d).fill(-Infinity);
      const { idx, val } = pearson[row.layer];
      for (let k = 0; k < val.length; k++) best[idx[2 * k]] = Math.max(best[idx[2 * k]], val[k]);
      assert.strictEqual(row.count, best.filter((v) => v >= row.threshold).length, `pass-through ${row.layer} >= ${row.threshold}`);
    }
    // graph links are stored Pearson values >= 0.5; the browser embeds the nodes with their contexts
    const graph = json(path.join(dir, 'graph.json')) as { edges: Array<{ source: string; target: string; weight: number }>; nodes: unknown[] };
    assert.ok(graph.edges.length > 0);
    for (const e of graph.edges.slice(0, 50)) {
      const [L, i] = e.source.split('/').map(Number);
      const j = Number(e.target.split('/')[1]);
      const { idx, val } = pearson[L];
      let v = 0;
      for (let k = 0; k < val.length; k++) if (idx[2 * k] === i && idx[2 * k + 1] === j) v = val[k];
      assert.ok(v >= 0.5 && v === e.weight, `${e.source} -> ${e.target}`);
    }
    const html = fs.readFileSync(path.join(dir, 'graph.html'), 'utf8');
    assert.match(html, /top activating contexts/);
    assert.ok(html.includes('"position"'), 'contexts embedded');
    const res = json(path.join(dir, 'results.json'));
    assert.strictEqual(res.tokens, T);
    assert.ok(!fs.existsSync(path.join(dir, 'state')), 'resumable state removed after success');
    assert.strictEqual(res.statistics_reused, false);

    // other graph settings: the statistics files are kept, only the analyses are redone
    const config = loadConfig(path.join(SAELAB_ROOT, 'configs', 'demo.json'));
    config.crosslayer.graph.minWeight = 0.6;
    const before = fs.statSync(path.join(dir, 'pair_0_1.safetensors')).mtimeMs;
    const again = await crossLayerStage({ stage: STAGE_CROSSLAYER, config, configFile: 'demo.json', backend: await initBackend(), runDir, stageDir: dir, stageDirOf: (s) => path.join(runDir, s) });
    assert.strictEqual(again.reused, false);
    assert.strictEqual(again.statistics_reused, true);
    assert.strictEqual(fs.statSync(path.join(dir, 'pair_0_1.safetensors')).mtimeMs, before);
    const g2 = json(path.join(dir, 'graph.json')) as { edges: Array<{ weight: number }> };
    assert.ok(g2.edges.length > 0 && g2.edges.length < graph.edges.length && g2.edges.every((e) => e.weight >= 0.6));
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
