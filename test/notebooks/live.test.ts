/**
 * The notebooks in a live Jupyter server, driven the way JupyterLab drives them: Debian's `jupyter notebook`
 * on loopback with a token, a session over REST with this checkout's tslab kernel, cells sent one by one
 * over the kernel's websocket. Checks every plot's display_data (Vega-Lite spec plus a PNG), interrupts a
 * long saelab cell (notebook 10's SAE sweep on a huge token budget) and runs the next cell within seconds,
 * then restarts the kernel and runs the notebook again.
 */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkoutKernelPath, findJupyterPython } from '../../lib/pipeline/notebooks';
import { SAELAB_ROOT } from '../../lib/version';
import { Execution, JupyterServer, KernelConnection, outputsOf } from './jupyterLive';

const VEGALITE = 'application/vnd.vegalite.v5+json';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The code cells of a notebook of the checkout. */
function codeCells(name: string): string[] {
  const nb = JSON.parse(fs.readFileSync(path.join(SAELAB_ROOT, 'notebooks', name), 'utf8')) as { cells: Array<{ cell_type: string; source: string | string[] }> };
  return nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
}

/** Run cells one by one; each must succeed with no error or stderr; returns their executions. */
async function runCells(k: KernelConnection, cells: string[], label: string): Promise<Execution[]> {
  const out: Execution[] = [];
  for (const [i, code] of cells.entries()) {
    const e = await k.execute(code).done;
    const o = outputsOf(e);
    assert.strictEqual(e.reply.content.status, 'ok', `${label} cell ${i + 1} failed: ${o.stderr} ${o.errors.join('; ')}`);
    assert.deepStrictEqual(o.errors, [], `${label} cell ${i + 1}: error messages`);
    assert.strictEqual(o.stderr, '', `${label} cell ${i + 1}: stderr`);
    assert.ok(!/application\/vnd|image\/png|<svg/.test(o.stdout), `${label} cell ${i + 1} printed a MIME bundle as text: ${o.stdout.slice(0, 200)}`);
    out.push(e);
  }
  return out;
}

/** Every plot in these executions carries the Vega-Lite spec, a PNG with its display size, and a text line. */
function assertPlots(execs: Execution[], label: string): number {
  let plots = 0;
  for (const e of execs) {
    for (const d of outputsOf(e).displays) {
      if (!(VEGALITE in d.data)) continue;
      plots++;
      const spec = d.data[VEGALITE];
      assert.ok(spec && typeof spec === 'object' && (spec.mark || spec.layer || spec.hconcat || spec.vconcat || spec.concat), `${label}: the Vega-Lite spec is an object with marks`);
      const png = Buffer.from(String(d.data['image/png'] ?? ''), 'base64');
      assert.ok(png.subarray(0, 8).equals(PNG_MAGIC), `${label}: the plot carries a PNG`);
      // PNG IHDR: width and height at bytes 16-23; the PNG is drawn at twice the display size
      const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
      const meta = d.metadata['image/png'] as { width: number; height: number };
      assert.ok(meta && Math.abs(w - 2 * meta.width) <= 2 && Math.abs(h - 2 * meta.height) <= 2, `${label}: PNG ${w}x${h} for display size ${JSON.stringify(meta)}`);
      assert.ok(!('image/svg+xml' in d.data), `${label}: no image/svg+xml (nbconvert's sanitizer would draw it blank)`);
      assert.match(String(d.data['text/plain']), /^<Vega-Lite plot/);
    }
  }
  return plots;
}

test('a live Jupyter server runs a notebook cell by cell, stops an interrupted saelab cell at once, and restarts', async () => {
  const python = findJupyterPython();
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-live-'));
  const runDir = path.join(state, 'run');
  // the demo config, with notebook 10's SAEs trained on 500M tokens each: hours of work to interrupt
  const config = path.join(state, 'live.json');
  fs.writeFileSync(config, JSON.stringify({ name: 'live', checkpoints: { training: { trainingTokens: 500_000_000 } } }));
  const server = await JupyterServer.start({
    python, root: SAELAB_ROOT, stateDir: path.join(state, 'jupyter'),
    env: { JUPYTER_PATH: [checkoutKernelPath(), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter), SAELAB_CONFIG: config, SAELAB_RUN_DIR: runDir },
  });
  let kernel: KernelConnection | null = null;
  try {
    const t0 = Date.now();
    kernel = await server.openSession('notebooks/00_environment.ipynb', 'tslab');
    const cells = codeCells('00_environment.ipynb');
    const first = await runCells(kernel, cells, '00_environment');
    assert.ok(assertPlots(first, '00_environment') >= 1, 'notebook 00 shows a plot');
    assert.match(String(outputsOf(first[0]).displays[0]?.data['text/plain']), /saelab backend: \w+/, 'the first output names the backend');
    const tRun = Date.now() - t0;

    // a long saelab cell: notebook 10's first cell, recording how its work ended
    const long = kernel.execute(`import * as saelab from '../dist/lib';
const ctx10 = await saelab.setupStage('10_checkpoint_saes');
(globalThis as any).__stopped = null;
try { await saelab.checkpointSaesStage(ctx10); }
catch (e) { (globalThis as any).__stopped = { name: (e as Error).name, message: (e as Error).message, at: Date.now() }; throw e; }`, 120_000);
    // let it get into the SAE training (the kernel stays busy: the cell would run for hours)
    const started = await Promise.race([long.done.then(() => 'finished'), new Promise((r) => setTimeout(() => r('running'), 15_000))]);
    assert.strictEqual(started, 'running', 'the long cell was still running after 15 s');
    const interruptAt = Date.now();
    await kernel.interrupt();
    const interrupted = await long.done;
    assert.notStrictEqual(interrupted.reply.content.status, 'ok', 'the interrupted cell does not report success');
    // the next cell, sent as a person would after seeing the stop (tslab aborts requests queued within 200 ms
    // of a failed cell, like Jupyter's stop_on_error), runs at once and sees the long work end at its next batch
    await new Promise((r) => setTimeout(r, 500));
    const next = await kernel.execute(`const waitedFrom = Date.now();
while (!(globalThis as any).__stopped && Date.now() - waitedFrom < 60_000) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify((globalThis as any).__stopped));`, 120_000).done;
    const nextDoneAt = Date.now();
    assert.strictEqual(next.reply.content.status, 'ok');
    const stopped = JSON.parse(outputsOf(next).stdout.trim()) as { name: string; message: string; at: number } | null;
    assert.ok(stopped, 'the interrupted work ended');
    assert.strictEqual(stopped!.name, 'InterruptedError', `the work stopped by interruption, not ${stopped!.message}`);
    assert.match(stopped!.message, /SAE training interrupted|checkpoint SAEs interrupted/);
    assert.ok(stopped!.at - interruptAt < 5000, `the work stopped ${stopped!.at - interruptAt} ms after the interrupt`);
    assert.ok(nextDoneAt - interruptAt < 15_000, `the next cell finished ${nextDoneAt - interruptAt} ms after the interrupt`);
    const stageDir = path.join(runDir, '10_checkpoint_saes');
    assert.ok(!fs.existsSync(path.join(stageDir, 'manifest.json')) && !fs.existsSync(path.join(stageDir, 'results.json')), 'the interrupted stage does not look complete');
    const leftovers = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? leftovers(path.join(dir, d.name)) : /\.tmp|tmp-/.test(d.name) ? [path.join(dir, d.name)] : []));
    assert.deepStrictEqual(leftovers(stageDir), [], 'no half-written files');
    // a saelab cell after the interrupt works as usual
    const after = outputsOf(await kernel.execute(`saelab.showTable([{ after: 'interrupt', ok: true }], { title: 'still working' });`).done);
    assert.ok(after.displays.some((d) => String(d.data['text/html']).includes('still working')));

    // restart the kernel and run the notebook again from the top
    const tRestart = Date.now();
    await kernel.restart();
    const again = await runCells(kernel, cells, '00_environment after restart');
    assert.ok(assertPlots(again, '00_environment after restart') >= 1);
    console.log(`live kernel: notebook 00 in ${(tRun / 1000).toFixed(1)} s; interrupt -> work stopped ${stopped!.at - interruptAt} ms, next cell done ${nextDoneAt - interruptAt} ms; restart + rerun ${((Date.now() - tRestart) / 1000).toFixed(1)} s`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- jupyter server output ---\n${server.output.split('\n').slice(-30).join('\n')}`);
  } finally {
    kernel?.close();
    await server.close();
    fs.rmSync(state, { recursive: true, force: true });
  }
});
