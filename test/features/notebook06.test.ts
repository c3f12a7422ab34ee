import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { runPipeline } from '../../lib/pipeline/run';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from '../notebooks/pages';

test('notebook 06 (InterpBench case 3, seed 002) executes headless: accuracy, SAE checks, feature browser', async () => {
  const runName = `test-nb06-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  try {
    const r = await runPipeline({ from: '06', to: '06', runName, log: () => {} });
    assert.ok(r.ok, `pipeline failed: ${JSON.stringify(r.failure)}`);
    const nb = JSON.parse(fs.readFileSync(path.join(runDir, '06_interpbench_case3.ipynb'), 'utf8'));
    const outputs = nb.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []) as Array<{ data?: Record<string, unknown> }>;
    const plots = outputs.filter((o) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
    assert.strictEqual(plots.length, 2, 'the prediction scatter and the feature browser');
    const browser = plots[1].data!['application/vnd.vegalite.v5+json'] as { params: Array<{ bind: { options: number[] } }> };
    const res = JSON.parse(fs.readFileSync(path.join(runDir, '06_interpbench_case3', 'results.json'), 'utf8'));
    assert.strictEqual(browser.params[0].bind.options.length, res.live_features);
    assert.ok(res.accuracy >= 0.99 && res.explained_variance > 0.98 && res.x_coverage >= 0.9, JSON.stringify(res));
    assert.ok(fs.readFileSync(path.join(runDir, '06_interpbench_case3', 'features.html'), 'utf8').includes('<h2>Feature '));
    const pages = await assertPagesLookRight(runDir, ['06_interpbench_case3']);
    const browserPage = pages.find((p) => p.file.endsWith('features.html'))!;
    assert.strictEqual(browserPage.areas.filter((a) => a.kind === 'svg' && a.elements > 0).length, res.live_features, 'one drawn histogram per live feature');
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
