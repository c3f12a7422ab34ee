/**
 * Notebooks 10-12 on the demo checkpoints, headless: plots with SVG and tables in every notebook, and the
 * artifacts checked against values recomputed here from the saved files (L0 and dead share from the
 * feature activations, matched similarities from the activation cosine, circuit nodes from the node
 * effects, persistence from the circuits and the matchings).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { runPipeline } from '../../lib/pipeline/run';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { loadMatching } from '../../lib/checkpoints/match';
import { loadConfig } from '../../lib/stages/config';
import { headlessStage } from '../../lib/stages/shard/context';
import { checkpointSaesStage } from '../../lib/stages/checkpointSaes';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from '../notebooks/pages';
import { setupBackend, assertClose } from '../helpers';

before(setupBackend);

function outputs(file: string): Array<{ output_type: string; data?: Record<string, unknown> }> {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8'));
  return nb.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []);
}
const json = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

function featureActs(file: string): { n: number; d: number; a: Float32Array } {
  const f = SafetensorsFile.open(file);
  try {
    const [n, d] = f.info('feature_acts').shape;
    return { n, d, a: f.readFloat32('feature_acts') };
  } finally {
    f.close();
  }
}

test('notebooks 10-12 run headless on the demo checkpoints with plots, tables and consistent artifacts', async () => {
  const runName = `test-checkpoints-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  const cfg = loadConfig().checkpoints;
  const labels = cfg.checkpoints.map((c) => c.label);
  const T = labels.length;
  try {
    const start = Date.now();
    const r = await runPipeline({ from: '10', to: '12', runName, log: () => {} });
    assert.ok(r.ok, `pipeline failed: ${JSON.stringify(r.failure)}`);
    console.log(`notebooks 10-12: ${((Date.now() - start) / 1000).toFixed(0)} s (${r.stages.map((s) => `${s.name} ${s.seconds.toFixed(0)} s`).join(', ')})`);
    assert.deepStrictEqual(r.stages.map((s) => s.name), ['10_checkpoint_saes', '11_feature_matching', '12_circuits_over_time']);
    for (const s of r.stages) {
      const outs = outputs(path.join(runDir, `${s.name}.ipynb`));
      assert.ok(outs.some((o) => o.data && String(o.data['text/html'] ?? '').includes('<table')), `${s.name} shows a table`);
      const plots = outs.filter((o) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
      assert.ok(plots.length >= 2, `${s.name} shows plots`);
      for (const p of plots) assert.match(String(p.data!['image/png']), /^iVBORw0KGgo/, `${s.name} plot carries its PNG`);
      assert.ok(!outs.some((o) => o.output_type === 'error'), `${s.name} has no error output`);
    }

    await assertPagesLookRight(runDir, r.stages.map((s) => s.name));

    // 10: one finished SAE per checkpoint; L0 and dead share recomputed from the saved feature activations
    const s10 = path.join(runDir, '10_checkpoint_saes');
    const res10 = json(path.join(s10, 'results.json'));
    assert.deepStrictEqual(res10.summaries.map((s: { label: string }) => s.label), labels);
    const tokens = SafetensorsFile.open(path.join(s10, 'eval_tokens.safetensors'));
    const [nSeq, ctx] = tokens.info('tokens').shape;
    tokens.close();
    assert.strictEqual(nSeq, cfg.evalBatches * cfg.batchSize);
    const acts = labels.map((l) => featureActs(path.join(s10, 'sweep', l, 'eval_feature_acts.safetensors')));
    labels.forEach((l, t) => {
      const sae = json(path.join(s10, 'sweep', l, 'sae', 'cfg.json'));
      assert.strictEqual(sae.metadata.hook_name, cfg.hook);
      const { n, d, a } = acts[t];
      assert.strictEqual(n, nSeq * ctx);
      assert.strictEqual(d, sae.d_sae);
      let active = 0;
      const fired = new Uint8Array(d);
      // L0 counts f > 1e-8, density f > 1e-10 (REFERENCE §2)
      for (let i = 0; i < a.length; i++) {
        if (a[i] > 1e-8) active++;
        if (a[i] > 1e-10) fired[i % d] = 1;
      }
      const sum = res10.summaries[t];
      assertClose([sum.l0, sum.dead_fraction], [active / n, 1 - fired.reduce((x, y) => x + y, 0) / d], 1e-6, 1e-6, `${l} L0 / dead share`);
      assert.ok(sum.explained_variance <= 1 && Number.isFinite(sum.ce_loss_score));
    });
    const last = res10.summaries[T - 1];
    assert.ok(last.explained_variance > 0.8, `final checkpoint explained variance ${last.explained_variance}`);
    assert.ok(last.clean_loss < res10.summaries[0].clean_loss, 'the model improved over training');

    // 11: each matching is a permutation whose similarities are the activation cosines of the matched pairs
    const s11 = path.join(runDir, '11_feature_matching');
    const m = labels.slice(0, -1).map((l, t) => loadMatching(path.join(s11, `matching_${l}_${labels[t + 1]}.safetensors`)));
    m.forEach((mt, t) => {
      const { n, d, a } = acts[t];
      const b = acts[t + 1].a;
      assert.deepStrictEqual([...mt.assignment].sort((x, y) => x - y), Array.from({ length: d }, (_, i) => i));
      for (const i of [0, 7, 100, d - 1]) {
        const j = mt.assignment[i];
        let xy = 0;
        let xx = 0;
        let yy = 0;
        for (let k = 0; k < n; k++) {
          const x = a[k * d + i];
          const y = b[k * d + j];
          xy += x * y;
          xx += x * x;
          yy += y * y;
        }
        const cos = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
        assert.ok(Math.abs(mt.similarity[i] - cos) < 1e-4, `${labels[t]} feature ${i} -> ${j}: similarity ${mt.similarity[i]} vs cosine ${cos}`);
      }
    });
    const res11 = json(path.join(s11, 'results.json'));
    assert.strictEqual(res11.events.length, T);
    assert.ok(res11.stableTable.length > 0 && typeof res11.stableTable[0]['top contexts'] === 'string');

    // 12: circuit nodes are the nodes above the threshold; persistence recomputed from circuits and matchings
    const s12 = path.join(runDir, '12_circuits_over_time');
    const circuits = json(path.join(s12, 'circuits.json'));
    const res12 = json(path.join(s12, 'results.json'));
    const thr = cfg.circuit.nodeThreshold;
    const d = acts[0].d;
    const ids = circuits.map((c: { nodeEffects: Record<string, number[]> }) => c.nodeEffects[cfg.hook].map((v, j) => (Math.abs(v) > thr ? j : -1)).filter((j) => j >= 0));
    circuits.forEach((c: { circuit: { nodes: Array<{ feature: number; id: string }> } }, t: number) => {
      assert.deepStrictEqual(c.circuit.nodes.filter((x) => x.id !== 'y').map((x) => x.feature), ids[t]);
    });
    for (let t = 0; t + 1 < T; t++) {
      const next = new Set(ids[t + 1]);
      const persisting = ids[t].filter((j: number) => next.has(j === d ? d : m[t].assignment[j])).length;
      assert.strictEqual(res12.overTime.perCheckpoint[t].persisting, persisting, `${labels[t]} persisting`);
    }
    const ok = res12.overTime.perCheckpoint.map((p: { faithfulness: number; modelEffect: number }) => p.faithfulness > cfg.circuit.appearThreshold && p.modelEffect > cfg.circuit.minModelEffect);
    assert.strictEqual(res12.appearedAt, ok.indexOf(true) >= 0 ? ok.indexOf(true) : null);
    assert.notStrictEqual(res12.appearedAt, null, 'the demo circuit appears during training');
    assert.ok(circuits[T - 1].faithfulness > 0.5, `final circuit faithfulness ${circuits[T - 1].faithfulness}`);
    assert.ok(fs.readFileSync(path.join(s12, `circuit_${labels[T - 1]}.svg`), 'utf8').includes('<svg'));

    // a rerun of stage 10 with the same config reuses everything
    const ctx10 = await headlessStage('10_checkpoint_saes', { runName });
    const again = await checkpointSaesStage(ctx10);
    assert.strictEqual(again.reused, true);
  } finally {
    delete process.env.SAELAB_RUN_DIR;
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
