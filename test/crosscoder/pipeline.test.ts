/**
 * Notebook 13 on the demo world, headless: plots with PNGs and tables, pages that look right in Chromium,
 * and the saved per-latent values recomputed here from the saved crosscoder weights (decoder norms and
 * cosines by plain loops, classes by the config's thresholds).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { runPipeline } from '../../lib/pipeline/run';
import { loadSafetensors, rawToFloat32 } from '../../lib/io/safetensors';
import { loadConfig } from '../../lib/stages/config';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from '../notebooks/pages';
import { setupBackend } from '../helpers';

before(setupBackend);

const json = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

test('notebook 13 trains a crosscoder on the demo world and diffs base and finetune latent by latent', async () => {
  const runName = `test-crosscoder-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  const s = loadConfig().crosscoder;
  try {
    const start = Date.now();
    const r = await runPipeline({ from: '13', to: '13', runName, log: () => {} });
    assert.ok(r.ok, `pipeline failed: ${JSON.stringify(r.failure)}`);
    console.log(`notebook 13: ${((Date.now() - start) / 1000).toFixed(0)} s`);
    const nb = json(path.join(runDir, '13_crosscoder_diff.ipynb'));
    const outs = nb.cells.flatMap((c: { outputs?: Array<{ output_type: string; data?: Record<string, unknown> }> }) => c.outputs ?? []);
    assert.ok(!outs.some((o: { output_type: string }) => o.output_type === 'error'), 'no error output');
    const plots = outs.filter((o: { data?: Record<string, unknown> }) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
    assert.strictEqual(plots.length, 4, 'relative norms, classes, shared cosines, densities');
    for (const p of plots) assert.match(String(p.data['image/png']), /^iVBORw0KGgo/);
    assert.ok(outs.filter((o: { data?: Record<string, unknown> }) => o.data && String(o.data['text/html'] ?? '').includes('<table')).length >= 3, 'explained variance, classes, comparison with 05 (and the exclusive latents when there are any)');
    assert.ok(outs.some((o: { data?: Record<string, unknown> }) => String(o.data?.['text/markdown'] ?? '').includes('What the crosscoder found')), 'closing note');
    await assertPagesLookRight(runDir, ['13_crosscoder_diff']);

    const dir = path.join(runDir, '13_crosscoder_diff');
    const res = json(path.join(dir, 'results.json'));
    const cfg = json(path.join(dir, 'crosscoder', 'cfg.json'));
    assert.deepStrictEqual([cfg.architecture, cfg.activation, cfg.n_models, cfg.d_sae], ['crosscoder', s.activation, 2, s.dSae]);
    const w = loadSafetensors(path.join(dir, 'crosscoder', 'crosscoder_weights.safetensors')).tensors;
    const W = rawToFloat32(w.W_dec);
    const d = cfg.d_in;
    const latents = json(path.join(dir, 'latents.json'));
    assert.strictEqual(latents.length, s.dSae);
    const counts: Record<string, number> = { shared: 0, base_only: 0, finetune_only: 0, other: 0, dead: 0 };
    for (let j = 0; j < s.dSae; j++) {
      let na = 0;
      let nb2 = 0;
      let dot = 0;
      for (let i = 0; i < d; i++) {
        const a = W[(j * 2) * d + i];
        const b = W[(j * 2 + 1) * d + i];
        na += a * a;
        nb2 += b * b;
        dot += a * b;
      }
      const rel = Math.sqrt(nb2) / (Math.sqrt(na) + Math.sqrt(nb2));
      const cos = dot / Math.sqrt(na * nb2);
      assert.ok(Math.abs(latents[j].relative_norm - rel) < 1e-5 && Math.abs(latents[j].cosine - cos) < 1e-4, `latent ${j}: saved r ${latents[j].relative_norm} cos ${latents[j].cosine}, recomputed ${rel} ${cos}`);
      const t = s.thresholds;
      const cls = !latents[j].density.some((x: number) => x > 0) ? 'dead' : rel < t.exclusive ? 'base_only' : rel > 1 - t.exclusive ? 'finetune_only' : Math.abs(rel - 0.5) <= t.sharedHalfWidth ? 'shared' : 'other';
      assert.strictEqual(latents[j].class, cls, `latent ${j} class`);
      counts[cls] += 1;
    }
    assert.deepStrictEqual(res.classCounts, counts);
    assert.ok(counts.dead < s.dSae, 'some latents fire');
    for (const row of res.explainedVariance) for (const [k, v] of Object.entries(row)) if (k !== 'domain') assert.ok((v as number) > 0.8, `${row.domain} ${k}: explained variance ${v}`);
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
