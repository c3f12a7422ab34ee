import { test } from 'node:test';
import * as assert from 'assert';
import { softmax, topFeaturesPerRow, topNextTokens } from '../../lib/explorer/compute';
import { explorerQueryString, parseExplorerQuery, parseSAESpec } from '../../lib/explorer/manifest';

test('topFeaturesPerRow: positive activations only, largest first, ties by lower id, at most k', () => {
  const acts = [
    0, 2, 0.5, 2, -1, 3, // row 0: 5:3, then the tie 1:2 and 3:2 (lower id first), then 2:0.5
    0, 0, 0, 0, 0, 0, // row 1: nothing fires
    -2, 0, 1e-9, 0, 0, 0, // row 2: only a tiny positive one
  ];
  assert.deepStrictEqual(topFeaturesPerRow(acts, 6, 3), [[[5, 3], [1, 2], [3, 2]], [], [[2, 1e-9]]]);
  assert.deepStrictEqual(topFeaturesPerRow(acts, 6, 5)[0], [[5, 3], [1, 2], [3, 2], [2, 0.5]]);
});

test('softmax and topNextTokens: probabilities by hand, order by logit then id', () => {
  const p = softmax([0, Math.log(3)]);
  assert.ok(Math.abs(p[0] - 0.25) < 1e-12 && Math.abs(p[1] - 0.75) < 1e-12);
  const top = topNextTokens(new Float32Array([1, 3, 3, -2]), 3);
  assert.deepStrictEqual(top.map(([i]) => i), [1, 2, 0]);
  const z = 2 * Math.exp(3) + Math.exp(1) + Math.exp(-2);
  assert.ok(Math.abs(top[0][2] - Math.exp(3) / z) < 1e-12);
});

test('explorer query: parse, round trip, and errors naming the parameter', () => {
  const q = parseExplorerQuery('?text=const%20caf%C3%A9%20%3D%201%3B&model=saelab%2Fdemo-finetune&sae=saelab-demo-res%3Ablocks.1.hook_resid_pre&feature=17&scale=-0.5&backend=wasm');
  assert.deepStrictEqual(q, { text: 'const café = 1;', model: 'saelab/demo-finetune', sae: 'saelab-demo-res:blocks.1.hook_resid_pre', feature: 17, scale: -0.5, backend: 'wasm' });
  assert.deepStrictEqual(parseExplorerQuery(`?${explorerQueryString(q)}`), q);
  assert.deepStrictEqual(parseExplorerQuery(''), {});
  assert.throws(() => parseExplorerQuery('?feature=1.5'), /feature='1.5' is not a feature index/);
  assert.throws(() => parseExplorerQuery('?scale=abc'), /scale='abc' is not a number/);
  assert.throws(() => parseExplorerQuery('?sae=blocks.2'), /sae 'blocks.2' is not release:saeId/);
  assert.deepStrictEqual(parseSAESpec('org/repo:folder/sub'), { release: 'org/repo', saeId: 'folder/sub' });
});
