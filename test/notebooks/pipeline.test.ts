import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { runPipeline } from '../../lib/pipeline/run';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from './pages';

/** Outputs of an executed notebook. */
function outputs(file: string): Array<{ output_type: string; data?: Record<string, unknown> }> {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8'));
  return nb.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []);
}

const json = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

test('the demo pipeline 01-05 runs headless with plots, tables and sane results', async () => {
  const runName = `test-pipeline-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  const start = Date.now();
  try {
    const r = await runPipeline({ from: '01', to: '05', runName, log: () => {} });
    assert.ok(r.ok, `pipeline failed: ${JSON.stringify(r.failure)}`);
    console.log(`demo pipeline 01-05: ${((Date.now() - start) / 1000).toFixed(0)} s (${r.stages.map((s) => `${s.name} ${s.seconds.toFixed(0)} s`).join(', ')})`);
    for (const s of r.stages) {
      const outs = outputs(path.join(runDir, `${s.name}.ipynb`));
      assert.ok(outs.some((o) => o.data && String(o.data['text/html'] ?? '').includes('<table')), `${s.name} shows a table`);
      if (s.name !== '01_compute_activations') {
        const plots = outs.filter((o) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
        assert.ok(plots.length > 0, `${s.name} shows plots`);
        for (const p of plots) assert.match(String(p.data!['image/png']), /^iVBORw0KGgo/, `${s.name} plot carries its PNG`);
      }
    }
    await assertPagesLookRight(runDir, r.stages.map((s) => s.name));
    const sim = json(path.join(runDir, '02_compute_similarities', 'results.json'));
    assert.ok(sim.cosine_mean > 0 && sim.cosine_mean <= 1, `cosine_mean ${sim.cosine_mean}`);
    assert.ok(sim.euclidean_mean > 0);

    // the norm scalar, recomputed here from the saved activations: sqrt(d) / mean over batches of mean token norms
    const cfgBatch = 16;
    const acts = SafetensorsFile.open(path.join(runDir, '01_compute_activations', 'base_acts.safetensors'));
    const [n, ctx, d] = acts.info('acts').shape;
    const a = acts.readFloat32('acts');
    acts.close();
    let batchMeans = 0;
    let batches = 0;
    for (let s = 0; s < n; s += cfgBatch) {
      let sum = 0;
      let count = 0;
      for (let t = s * ctx; t < Math.min(n, s + cfgBatch) * ctx; t++) {
        let sq = 0;
        for (let k = 0; k < d; k++) sq += a[t * d + k] ** 2;
        sum += Math.sqrt(sq);
        count++;
      }
      batchMeans += sum / count;
      batches++;
    }
    const out = json(path.join(runDir, '03_find_outlier_norms', 'results.json'));
    const expectedS = Math.sqrt(d) / (batchMeans / batches);
    assert.ok(Math.abs(out.norm_scalar - expectedS) < 1e-4 * expectedS, `norm scalar ${out.norm_scalar} vs ${expectedS}`);
    assert.ok(fs.existsSync(path.join(runDir, '03_find_outlier_norms', 'outlier_cfg.json')));

    const ev = json(path.join(runDir, '04_sae_eval', 'results.json'));
    for (const m of ['base', 'finetune']) {
      assert.ok(ev[m].l0 > 0, `${m} L0 ${ev[m].l0}`);
      assert.ok(ev[m].r2 <= 1 && ev[m].explained_variance <= 1);
      assert.ok(ev[m].dead_fraction >= 0 && ev[m].dead_fraction <= 1);
      assert.strictEqual(ev[m].nonfinite_batches, 0);
    }
    assert.ok(ev.base.spliced_loss >= ev.base.clean_loss, 'splicing the SAE costs loss on the base model');
    assert.ok(ev.base.explained_variance >= 0.8, `base explained variance ${ev.base.explained_variance}`);
    assert.ok(ev.finetune.clean_loss > ev.base.clean_loss, 'the code finetune is worse than the base on English text');
    const dens = SafetensorsFile.open(path.join(runDir, '04_sae_eval', 'feature_densities.safetensors'));
    assert.deepStrictEqual(dens.names().sort(), ['base', 'finetune']);
    dens.close();

    const tr = json(path.join(runDir, '05_features_transfer', 'results.json'));
    assert.ok(tr.density_pearson_r >= -1 && tr.density_pearson_r <= 1);
    assert.ok(tr.wu_frobenius_ratio > 0 && tr.wu_frobenius_diff > 0, 'the finetune changed W_U');
    assert.ok(tr.dense_logit_similarity_mean <= 1);

    // a rerun of a stage with the same config reuses its artifacts
    const again = await runPipeline({ from: '02', to: '02', runName, log: () => {} });
    assert.ok(again.ok);
    const outs = outputs(path.join(runDir, '02_compute_similarities.ipynb'));
    assert.ok(outs.length > 0);
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
