/**
 * The explorer end to end: build the static site (small dashboards), serve it on loopback, open it
 * in headless Chromium (Debian's), read #saelab-result and compare it with the CLI on the same text
 * (saelab tokenize --prepend-bos, cache, sae): same token ids, same top features, activations within
 * 1e-3; an ablation in the page changes the next-token logits as the Node lib computes them; a click
 * on a feature selects it. Screenshots go to $SAELAB_EXPLORER_SHOTS when set (for review).
 */
import { after, before, test } from 'node:test';
import * as assert from 'assert';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import * as tf from '@tensorflow/tfjs';
import { buildExplorerSite, DEMO_EXPLORER } from '../../lib/explorer/site';
import { serveStatic, StaticServer } from '../../lib/explorer/serve';
import { BrowserPage, Chromium } from '../../lib/browser/chromium';
import { ExplorerManifest, ExplorerResult, explorerQueryString } from '../../lib/explorer/manifest';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { HookedTransformer } from '../../lib/model';
import { SAE, runWithSAE } from '../../lib/sae';
import { REPO_ROOT, setupBackend, tmpDir } from '../helpers';

const run = promisify(execFile);
const SAELAB = path.join(REPO_ROOT, 'bin', 'saelab.js');
const TOL = 1e-3;
const SAES = ['saelab-demo-res:blocks.1.hook_resid_pre', 'saelab-demo-res:blocks.2.hook_resid_pre'];

let site = '';
let server: StaticServer;
let browser: Chromium;
/** the page last opened (closed when the next one opens) */
let page: BrowserPage | undefined;
const shots = process.env.SAELAB_EXPLORER_SHOTS;

before(async () => {
  await setupBackend();
  site = path.join(tmpDir('saelab-explorer-'), 'dist');
  await buildExplorerSite({
    out: site, models: DEMO_EXPLORER.models, saes: SAES, defaultSae: SAES[1], defaultText: DEMO_EXPLORER.defaultText,
    dashboards: { texts: [{ ...DEMO_EXPLORER.texts[0], contexts: 8 }], examples: 4, effectExamples: 1 },
  });
  server = await serveStatic(site);
  browser = await Chromium.launch({ windowSize: [1280, 1000] });
});

after(async () => {
  await page?.close();
  await browser?.close();
  await server?.close();
});

/** Open `url` in a new tab (closing the last one) and wait until the explorer has computed; returns its #saelab-result. */
async function openUrl(url: string, shot?: string): Promise<ExplorerResult> {
  await page?.close();
  page = await browser.open(url, { width: 1280, height: 1000 });
  const state = await page.evaluateUntil<string>('["ready", "error"].includes(document.body.dataset.state) && document.body.dataset.state', 120000);
  if (state === 'error') assert.fail(`the page failed: ${await page.evaluate('document.body.dataset.error')}\n${page.errors.slice(-10).join('\n')}`);
  if (shots && shot) await page.screenshot(path.join(shots, shot));
  return JSON.parse(await page.evaluate<string>('document.getElementById("saelab-result").textContent'));
}

/** The site's page with a query. */
function openPage(query: Record<string, string | number>, shot?: string): Promise<ExplorerResult> {
  return openUrl(`${server.url}/index.html?${explorerQueryString(query as never)}`, shot);
}

/** The CLI on the same text: token ids with BOS, then the hook's activations, then the SAE's features [pos, d_sae]. */
async function cliFeatures(model: string, sae: string, text: string): Promise<{ ids: number[]; acts: Float32Array; dSae: number }> {
  const dir = tmpDir();
  const { stdout } = await run(process.execPath, [SAELAB, 'tokenize', '--tokenizer', model, '--prepend-bos', '--text', text]);
  const ids = JSON.parse(stdout) as number[];
  const hook = sae.slice(sae.indexOf(':') + 1);
  await run(process.execPath, [SAELAB, 'cache', '--model', model, '--tokens', ids.join(','), '--hooks', hook, '--out', path.join(dir, 'acts.safetensors')]);
  await run(process.execPath, [SAELAB, 'sae', '--sae', sae, '--in', path.join(dir, 'acts.safetensors'), '--tensor', hook, '--out', path.join(dir, 'f.safetensors')]);
  const f = SafetensorsFile.open(path.join(dir, 'f.safetensors'));
  const shape = f.info('feature_acts').shape;
  const acts = f.readFloat32('feature_acts');
  f.close();
  assert.deepStrictEqual(shape.slice(0, 2), [1, ids.length]);
  return { ids, acts, dSae: shape[2] };
}

/** The page's per-token top features against the CLI's activations: same features (up to near ties), values within TOL. */
function compareTop(page: ExplorerResult, cli: { ids: number[]; acts: Float32Array; dSae: number }): void {
  assert.deepStrictEqual(page.tokens, cli.ids, 'token ids');
  assert.strictEqual(page.top.length, cli.ids.length);
  const d = cli.dSae;
  for (let p = 0; p < cli.ids.length; p++) {
    const row = Array.from(cli.acts.subarray(p * d, (p + 1) * d));
    const expected = row.map((a, f) => [f, a]).filter(([, a]) => a > 0).sort((x, y) => y[1] - x[1]).slice(0, 5);
    const got = page.top[p];
    // a feature at the edge of firing may be 0 on one backend and ~1e-7 on another
    const firm = (list: number[][]) => list.filter(([, a]) => a > TOL);
    assert.strictEqual(firm(got).length, firm(expected).length, `token ${p}: features firing above ${TOL}`);
    got.forEach(([f, a], i) => {
      assert.ok(Math.abs(a - row[f]) <= TOL, `token ${p}: feature ${f} is ${a} in the page, ${row[f]} in the CLI`);
      if (i < expected.length) {
        assert.ok(Math.abs(a - expected[i][1]) <= TOL, `token ${p} rank ${i}: ${a} vs CLI ${expected[i][1]}`);
        if (f !== expected[i][0]) assert.ok(Math.abs(row[f] - expected[i][1]) <= TOL, `token ${p} rank ${i}: feature ${f} vs CLI ${expected[i][0]} (not a near tie)`);
      }
    });
  }
}

test('the built site has the page, wasm binaries, manifest, hub-layout files and dashboards', () => {
  const m = JSON.parse(fs.readFileSync(path.join(site, 'explorer.json'), 'utf8')) as ExplorerManifest;
  assert.strictEqual(m.generator, 'saelab explorer');
  assert.deepStrictEqual(m.saes.map((s) => s.spec), SAES);
  assert.strictEqual(m.defaults.sae, 'saelab-demo-res:blocks.2.hook_resid_pre');
  for (const f of ['index.html', 'style.css', 'assets/explorer.js', 'assets/tfjs-backend-wasm-simd.wasm',
    'hub/saelab/demo-base/resolve/main/config.json', 'hub/saelab/demo-base/resolve/main/model.safetensors', 'hub/saelab/demo-finetune/resolve/main/tokenizer.json',
    'hub/saelab/demo-saes/resolve/main/blocks.2.hook_resid_pre/cfg.json', 'hub/saelab/demo-saes/resolve/main/blocks.2.hook_resid_pre/sae_weights.safetensors']) {
    assert.ok(fs.existsSync(path.join(site, f)), `${f} is missing from the site`);
  }
  // the copies are the shipped files, byte for byte
  const shipped = path.join(REPO_ROOT, 'data', 'hub', 'models--saelab--demo-base', 'snapshots', fs.readFileSync(path.join(REPO_ROOT, 'data', 'hub', 'models--saelab--demo-base', 'refs', 'main'), 'utf8').trim(), 'model.safetensors');
  assert.ok(fs.readFileSync(shipped).equals(fs.readFileSync(path.join(site, 'hub/saelab/demo-base/resolve/main/model.safetensors'))));
  assert.strictEqual(Object.keys(m.dashboards).length, 4);
  const dash = JSON.parse(fs.readFileSync(path.join(site, m.dashboards['saelab/demo-base|saelab-demo-res:blocks.2.hook_resid_pre']), 'utf8'));
  assert.strictEqual(dash.sample.tokens, 8 * 64);
  const [fid, feat] = Object.entries(dash.features)[0] as [string, { examples: Array<{ a: number; v: number[]; c: number }>; max: number }];
  assert.ok(Number(fid) >= 0 && feat.examples.length >= 1 && feat.examples.length <= 4);
  assert.strictEqual(feat.examples[0].a, feat.max);
  for (const ex of feat.examples) assert.strictEqual(ex.v[ex.c], ex.a, 'the window holds the example\'s activation at its token');
});

test('the page computes the default SAE\'s features on a text as the CLI does (tokens, top 5 per token, activations within 1e-3)', async () => {
  const text = 'The old man walked to the market and bought some bread for his family.';
  const [result, cli] = await Promise.all([openPage({ text }, 'explorer-default.png'), cliFeatures('saelab/demo-base', 'saelab-demo-res:blocks.2.hook_resid_pre', text)]);
  assert.strictEqual(result.model, 'saelab/demo-base');
  assert.strictEqual(result.sae, 'saelab-demo-res:blocks.2.hook_resid_pre');
  assert.ok(['webgpu', 'webgl', 'wasm', 'cpu'].includes(result.backend));
  compareTop(result, cli);
  assert.strictEqual(result.next.length, 10);
  assert.ok(await page!.evaluate<boolean>('document.getElementById("backend").textContent.includes(JSON.parse(document.getElementById("saelab-result").textContent).backend)'), 'the page shows its backend');
});

test('model and sae query parameters: the finetune with the layer-1 SAE on code text matches the CLI', async () => {
  const text = 'const café = (xs) => xs.map((x) => x * 2); // naïve';
  const sae = 'saelab-demo-res:blocks.1.hook_resid_pre';
  const [result, cli] = await Promise.all([openPage({ text, model: 'saelab/demo-finetune', sae }, 'explorer-finetune-layer1.png'), cliFeatures('saelab/demo-finetune', sae, text)]);
  assert.strictEqual(result.model, 'saelab/demo-finetune');
  assert.strictEqual(result.sae, sae);
  compareTop(result, cli);
});

test('ablating a feature in the page changes the next-token logits as the Node lib computes them', async () => {
  const text = 'The old man walked to the market and bought some bread for his family.';
  const clean = await openPage({ text });
  const feature = clean.top[clean.top.length - 1][0][0]; // the strongest feature on the last token
  const result = await openPage({ text, feature, scale: 0 }, 'explorer-ablated.png');
  const iv = result.intervention!;
  assert.ok(iv, 'the result has the intervention');
  assert.strictEqual(iv.feature, feature);
  assert.strictEqual(iv.scale, 0);
  // Node: the same model and SAE, the SAE spliced in with its error term and the feature zeroed
  const model = await HookedTransformer.fromPretrained('saelab/demo-base');
  const sae = await SAE.fromPretrained('saelab-demo-res', 'blocks.2.hook_resid_pre');
  const tokens = tf.tensor2d([result.tokens], undefined, 'int32');
  const last = (l: tf.Tensor3D) => (l.arraySync() as number[][][])[0][result.tokens.length - 1];
  const nodeClean = last(model.forward(tokens).logits!);
  const nodeAblated = last(runWithSAE(model, sae, tokens, { includeError: true, interventions: [{ feature, op: 'zero' }] }).logits!);
  iv.ids.forEach((id, i) => {
    assert.ok(Math.abs(iv.clean[i] - nodeClean[id]) <= TOL, `clean logit of token ${id}: page ${iv.clean[i]}, Node ${nodeClean[id]}`);
    assert.ok(Math.abs(iv.intervened[i] - nodeAblated[id]) <= TOL, `ablated logit of token ${id}: page ${iv.intervened[i]}, Node ${nodeAblated[id]}`);
  });
  const change = Math.max(...iv.ids.map((_, i) => Math.abs(iv.intervened[i] - iv.clean[i])));
  assert.ok(change > 0.01, `ablating feature ${feature} should change the next-token logits (largest change ${change})`);
  tokens.dispose();
  sae.dispose();
  model.dispose();
});

test('clicking a feature selects it: the dashboard shows, and the result carries its ablation', async () => {
  await openPage({ text: 'She opened the door and the cat ran out.' });
  const p = page!;
  const feature = await p.evaluate<number>('Number(document.querySelector(".tok:nth-child(4) .feat").dataset.feature)');
  await p.clickSelector('.tok:nth-child(4) .feat');
  const r = JSON.parse(await p.evaluateUntil<string>(`(() => { const t = document.getElementById("saelab-result").textContent; return JSON.parse(t).intervention?.feature === ${feature} && t; })()`, 30000)) as ExplorerResult;
  assert.strictEqual(r.intervention!.scale, 0);
  assert.ok(await p.evaluate<boolean>(`document.querySelector("#feature .fid").textContent === "#${feature}"`));
  assert.ok(await p.evaluate<boolean>('location.search.includes("feature=")'), 'the address bar carries the selection');
  if (shots) await p.screenshot(path.join(shots, 'explorer-clicked.png'));
});

/** Open `url` and wait until the page is ready or failed; returns the state and what #tokens shows. */
async function openState(url: string, shot?: string): Promise<{ state: string; error: string; shown: string; hasResult: boolean }> {
  await page?.close();
  page = await browser.open(url, { width: 1280, height: 1000 });
  const state = await page.evaluateUntil<string>('["ready", "error"].includes(document.body.dataset.state) && document.body.dataset.state', 120000);
  if (shots && shot) await page.screenshot(path.join(shots, shot));
  return {
    state, error: await page.evaluate<string>('document.body.dataset.error ?? ""'),
    shown: await page.evaluate<string>('document.getElementById("tokens").textContent'),
    hasResult: await page.evaluate<boolean>('!!document.getElementById("saelab-result")'),
  };
}

test('a bad input is an error the page shows in place of the results: a missing SAE names its URL; a selection elsewhere clears what was shown', async () => {
  const missing = await openState(`${server.url}/index.html?${explorerQueryString({ text: 'Hello there.', sae: 'saelab-demo-res:blocks.9.hook_resid_pre' })}`, 'explorer-error.png');
  assert.strictEqual(missing.state, 'error');
  assert.match(missing.error, /\/hub\/saelab\/demo-saes\/resolve\/main\/blocks\.9\.hook_resid_pre: no cfg\.json \(HTTP 404\)/);
  assert.ok(missing.shown.includes(missing.error), `the tokens card shows the error, not: ${missing.shown}`);
  assert.ok(!missing.hasResult);
  // a good page, then a text too long for the model: the earlier tokens and result do not stay beside the error
  await openPage({ text: 'Hello there.' });
  await page!.evaluate(`(() => { const t = document.getElementById("text"); t.value = "word ".repeat(300); document.getElementById("run").click(); })()`);
  const error = await page!.evaluateUntil<string>('document.body.dataset.state === "error" && document.body.dataset.error', 30000);
  const m = /^the text has (\d+) tokens; saelab\/demo-base reads at most 128$/.exec(error);
  assert.ok(m && Number(m[1]) > 300, `the error names the token count and the model's context: ${error}`);
  assert.strictEqual(await page!.evaluate<number>('document.querySelectorAll("#tokens .tok").length'), 0);
  assert.ok(!(await page!.evaluate<boolean>('!!document.getElementById("saelab-result")')));
});

test('opened as a file instead of served, the page says how to serve it', async () => {
  const opened = await openState(`file://${path.join(site, 'index.html')}`, 'explorer-file-url.png');
  assert.strictEqual(opened.state, 'error');
  assert.match(opened.shown, /must be served over http\(s\), not opened as a file.*saelab explorer --serve 8000 --serve-only/s);
});

test('--hub-url: the site copies no model or SAE files and points the page at the hub base URL', async () => {
  const out = path.join(tmpDir(), 'site');
  await buildExplorerSite({ out, models: DEMO_EXPLORER.models.slice(0, 1), saes: [SAES[1]], defaultText: 'x', dashboards: false, hubUrl: 'https://mirror.example/hf' });
  const m = JSON.parse(fs.readFileSync(path.join(out, 'explorer.json'), 'utf8')) as ExplorerManifest;
  assert.strictEqual(m.hub, 'https://mirror.example/hf');
  assert.deepStrictEqual(m.dashboards, {});
  assert.ok(!fs.existsSync(path.join(out, 'hub')) && fs.existsSync(path.join(out, 'assets', 'explorer.js')));
});

test('the builder refuses to replace a folder it did not write', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  await assert.rejects(buildExplorerSite({ out: dir, models: DEMO_EXPLORER.models, saes: SAES, defaultText: 'x', dashboards: false }), /was not written by saelab's explorer build/);
  assert.strictEqual(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'mine');
});

test('a model given as a local folder is copied under models/ and the page loads it from there', async () => {
  const snapshot = path.join(REPO_ROOT, 'data', 'hub', 'models--saelab--demo-base', 'snapshots', fs.readFileSync(path.join(REPO_ROOT, 'data', 'hub', 'models--saelab--demo-base', 'refs', 'main'), 'utf8').trim());
  const out = path.join(tmpDir(), 'site');
  await buildExplorerSite({ out, models: [{ id: snapshot, label: 'my model' }], saes: [SAES[1]], defaultText: 'x', dashboards: false });
  const m = JSON.parse(fs.readFileSync(path.join(out, 'explorer.json'), 'utf8')) as ExplorerManifest;
  const id = `./models/${path.basename(snapshot)}`;
  assert.deepStrictEqual(m.models, [{ id, label: 'my model' }]);
  assert.strictEqual(m.defaults.model, id);
  assert.ok(fs.existsSync(path.join(out, id, 'model.safetensors')) && fs.existsSync(path.join(out, id, 'tokenizer.json')));
  const local = await serveStatic(out);
  try {
    const text = 'The old man walked to the market and bought some bread for his family.';
    const result = await openUrl(`${local.url}/index.html?${explorerQueryString({ text })}`);
    assert.strictEqual(result.model, id);
    assert.ok(local.requests.includes(`/models/${path.basename(snapshot)}/model.safetensors`));
    compareTop(result, await cliFeatures('saelab/demo-base', SAES[1], text));
  } finally {
    await local.close();
  }
});
