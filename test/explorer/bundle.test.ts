/**
 * The browser build of lib: bundling for esbuild's browser platform succeeds, swaps exactly the Node
 * file-access modules for their .browser.ts twins, and fails (naming the module) when a Node API or
 * a part of tfjs the slim bundle leaves out is reached.
 */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { bundleForBrowser } from '../../lib/explorer/bundle';
import { REPO_ROOT, tmpDir } from '../helpers';

/** Every `x.browser.ts` under lib/ with its Node twin `x.ts`. */
function twinPairs(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.browser.ts')) out.push([p.replace(/\.browser\.ts$/, '.ts'), p]);
    }
  };
  walk(path.join(REPO_ROOT, 'lib'));
  return out;
}

test('lib/web.ts (the browser build of lib) bundles for browsers: twins swapped in, no Node file-access module or builtin inside', async () => {
  const dir = tmpDir();
  const r = await bundleForBrowser({ entry: path.join(REPO_ROOT, 'lib', 'web.ts'), outfile: path.join(dir, 'saelab.js') });
  const rel = (p: string) => path.relative(REPO_ROOT, p);
  const pairs = twinPairs();
  assert.ok(pairs.length >= 6, `twins found: ${pairs.map(([, b]) => rel(b)).join(', ')}`);
  for (const [node, twin] of pairs) {
    assert.ok(fs.existsSync(node), `${rel(twin)} has no Node module ${rel(node)}`);
    assert.ok(!r.inputs.includes(rel(node)), `the Node module ${rel(node)} is in the browser bundle`);
  }
  assert.deepStrictEqual(r.twins, ['lib/crosscoder/format.browser.ts', 'lib/hub/env.browser.ts', 'lib/hub/resolve.browser.ts', 'lib/model/loading.browser.ts', 'lib/model/memory.browser.ts', 'lib/sae/loading.browser.ts', 'lib/tokenizers/tokenizer.browser.ts', 'lib/version.browser.ts']);
  for (const must of ['lib/model/hookedTransformer.ts', 'lib/sae/sae.ts', 'lib/io/safetensorsCore.ts', 'lib/tokenizers/tokenizerCore.ts', 'lib/hub/http.ts']) assert.ok(r.inputs.includes(must), `${must} should be bundled`);
  for (const never of ['lib/io/atomic.ts', 'lib/io/safetensors.ts', 'lib/hub/cache.ts', 'lib/backend/index.ts', 'lib/backend/native.ts']) assert.ok(!r.inputs.includes(never), `${never} must not reach the browser bundle`);
  assert.ok(!r.inputs.some((i) => i.includes('@tensorflow/tfjs-layers') || i.includes('@tensorflow/tfjs-converter')), 'the slim tfjs leaves out layers and converter');
  assert.ok(!r.inputs.some((i) => /^(fs|path|os|crypto|child_process)$/.test(i)), 'no Node builtin');
});

test('every browser twin exports only names its Node module exports (same API, fetch inside)', async () => {
  for (const [node, twin] of twinPairs()) {
    const load = (p: string) => require(path.join(REPO_ROOT, 'dist', path.relative(REPO_ROOT, p).replace(/\.ts$/, '.js')));
    const nodeNames = new Set(Object.keys(load(node)));
    const extra = Object.keys(load(twin)).filter((n) => !nodeNames.has(n));
    // configureHub is how a page sets what Node reads from HF_ENDPOINT / HF_TOKEN
    assert.deepStrictEqual(extra.filter((n) => n !== 'configureHub'), [], `${path.relative(REPO_ROOT, twin)} exports names its Node module does not`);
  }
});

test('a Node API on the browser path fails the bundle, naming the module; so does a tfjs part the slim bundle leaves out', async () => {
  const dir = tmpDir();
  const nodeEntry = path.join(dir, 'node-entry.ts');
  fs.writeFileSync(nodeEntry, `import { SafetensorsFile } from ${JSON.stringify(path.join(REPO_ROOT, 'lib', 'io', 'safetensors'))};\nconsole.log(SafetensorsFile);\n`);
  await assert.rejects(bundleForBrowser({ entry: nodeEntry, outfile: path.join(dir, 'a.js') }), /lib\/io\/safetensors\.ts:\d+: Could not resolve "fs"[\s\S]*move the file access into a module with a \.browser\.ts twin/);
  const layersEntry = path.join(dir, 'layers-entry.ts');
  fs.writeFileSync(layersEntry, 'import * as tf from \'@tensorflow/tfjs\';\nconsole.log(tf.layers);\n');
  await assert.rejects(bundleForBrowser({ entry: layersEntry, outfile: path.join(dir, 'b.js') }), /Import "layers" will always be undefined/);
});
