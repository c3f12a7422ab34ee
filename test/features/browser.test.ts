import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { featureBrowserSpec, featureExampleRows, topActivatingExamples, writeFeatureBrowserHtml } from '../../lib/features';
import { renderSvg } from '../../lib/plots/render';
import { CASE3_TOKENS } from '../../lib/tasks';
import { setupBackend, tmpDir } from '../helpers';

before(setupBackend);

// [2 sequences, 3 positions, 3 features]; feature 2 never fires
const ACTS = [
  [[0, 1, 0], [2, 0, 0], [0.5, 3, 0]],
  [[0, 0, 0], [4, 0.25, 0], [1, 0, 0]],
];
const TOKENS = [[0, 2, 5], [0, 5, 3]];
const decode = (id: number) => CASE3_TOKENS[id];

test('top activating examples per feature, by hand', async () => {
  const acts = tf.tensor3d(ACTS);
  const top = await topActivatingExamples(acts, TOKENS, 3, 4);
  acts.dispose();
  assert.deepStrictEqual(top.live, [0, 1]);
  assert.deepStrictEqual(top.examples.get(0)!.map((e) => [e.rank, e.sequence, e.position, e.token, e.activation]), [[1, 1, 1, 5, 4], [2, 0, 1, 2, 2], [3, 1, 2, 3, 1]]);
  assert.deepStrictEqual(top.examples.get(1)!.map((e) => [e.sequence, e.position, e.activation]), [[0, 2, 3], [0, 0, 1], [1, 1, 0.25]]);
  // feature 0 fires 4 times: 0.5, 1, 2, 4 over 4 bins of [0, 4]; feature 1: 0.25, 1, 3 over bins of width 0.75
  assert.deepStrictEqual(top.histograms.get(0)!.counts, [1, 1, 1, 1]);
  assert.strictEqual(top.histograms.get(0)!.firing, 4);
  assert.deepStrictEqual(top.histograms.get(1)!.counts, [1, 1, 0, 1]);
  assert.deepStrictEqual(top.histograms.get(1)!.edges, [0, 0.75, 1.5, 2.25, 3]);
  // k larger than the firing count lists only the positive examples
  const acts2 = tf.tensor3d(ACTS);
  const top20 = await topActivatingExamples(acts2, TOKENS, 20);
  acts2.dispose();
  assert.strictEqual(top20.examples.get(1)!.length, 3);
  const rows = featureExampleRows(top, { decode, tokens: TOKENS }, 0);
  assert.deepStrictEqual(rows[0], { feature: 0, rank: 1, sequence: 1, position: 1, token: 'x', activation: 4, context: 'BOS [x] b' });
});

test('the interactive view and the static page render offline', async () => {
  const acts = tf.tensor3d(ACTS);
  const top = await topActivatingExamples(acts, TOKENS, 3, 4);
  acts.dispose();
  const spec = featureBrowserSpec(top, { decode, tokens: TOKENS }) as unknown as { params: Array<{ bind: { options: number[] } }> };
  assert.deepStrictEqual(spec.params[0].bind.options, [0, 1]);
  const svg = await renderSvg(spec);
  assert.ok(svg.startsWith('<svg') && svg.includes('BOS [x] b'), 'the default feature (0) is drawn with its contexts');
  const file = path.join(tmpDir(), 'features.html');
  await writeFeatureBrowserHtml(file, top, { decode, tokens: TOKENS });
  const html = fs.readFileSync(file, 'utf8');
  assert.ok(html.includes('<h2>Feature 0</h2>') && html.includes('<h2>Feature 1</h2>') && !html.includes('Feature 2<'));
  assert.ok(!/<script/i.test(html), 'no scripts: a static page');
  assert.strictEqual((html.match(/<svg/g) ?? []).length, 2, 'one histogram per live feature');
  assert.ok(html.includes('BOS [x] b'));
});
