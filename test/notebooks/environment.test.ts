import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { runPipeline } from '../../lib/pipeline/run';
import { SAELAB_ROOT } from '../../lib/version';
import { assertPagesLookRight } from './pages';

test('00_environment executes headless and shows a plot as Vega-Lite + SVG in one bundle', async () => {
  const runName = `test-env-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  try {
    const r = await runPipeline({ from: '00', to: '00', runName, log: () => {} });
    assert.ok(r.ok, `pipeline failed: ${JSON.stringify(r.failure)}`);
    const nb = JSON.parse(fs.readFileSync(path.join(runDir, '00_environment.ipynb'), 'utf8'));
    const outputs = nb.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []) as Array<{ output_type: string; data?: Record<string, unknown> }>;
    const plot = outputs.find((o) => o.data && 'application/vnd.vegalite.v5+json' in o.data);
    assert.ok(plot, 'a Vega-Lite output');
    assert.match(String(plot!.data!['image/png']), /^iVBORw0KGgo/, 'with a static PNG (base64)');
    assert.ok(plot!.data!['text/plain']);
    const first = outputs[0];
    assert.match(String(first.data?.['text/plain']), /saelab backend: \w+/, 'first output names the backend');
    assert.ok(outputs.some((o) => o.data && String(o.data['text/html'] ?? '').includes('<table')), 'an HTML table');
    await assertPagesLookRight(runDir, ['00_environment']);
    const results = JSON.parse(fs.readFileSync(path.join(runDir, '00_environment', 'results.json'), 'utf8'));
    assert.ok(Math.abs(results.sampleMean) < 0.05, 'mean of 10k standard normals is within 5 standard errors of 0');
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});

test('a failing cell stops the pipeline naming notebook, cell and error; earlier outputs stay', async () => {
  const dir = fs.mkdtempSync(path.join(SAELAB_ROOT, 'runs', '.nbtest-'));
  const runName = `test-fail-${process.pid}`;
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  try {
    const cell = (src: string) => ({ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: src });
    const nb = (cells: object[]) => JSON.stringify({ cells, metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } }, nbformat: 4, nbformat_minor: 4 });
    fs.writeFileSync(path.join(dir, '01_ok.ipynb'), nb([cell('const x: number = 1 + 1;\nconsole.log(x);')]));
    fs.writeFileSync(path.join(dir, '02_bad.ipynb'), nb([cell('console.log("fine");'), cell('throw new Error("boom at stage two");'), cell('console.log("never");')]));
    fs.writeFileSync(path.join(dir, '03_after.ipynb'), nb([cell('console.log("not reached");')]));
    const r = await runPipeline({ runName, notebooksDir: dir, log: () => {} });
    assert.strictEqual(r.ok, false);
    assert.strictEqual(r.failure?.notebook, '02_bad');
    assert.strictEqual(r.failure?.cell, 1);
    assert.match(r.failure?.error ?? '', /boom at stage two/);
    assert.ok(fs.existsSync(path.join(runDir, '01_ok.ipynb')), 'earlier stage output kept');
    assert.ok(!fs.existsSync(path.join(runDir, '03_after.ipynb')), 'later stage not run');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});
