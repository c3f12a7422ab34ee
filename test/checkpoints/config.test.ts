import { test } from 'node:test';
import * as assert from 'assert';
import { checkpointsConfig, DEFAULT_CHECKPOINTS_CONFIG, sweepSpecFromConfig } from '../../lib/checkpoints/config';

test('checkpoints config: demo defaults, overrides, and errors naming the key', () => {
  const d = checkpointsConfig({ checkpoints: {} });
  assert.deepStrictEqual(d.checkpoints.map((c) => c.revision), ['step0', 'step75', 'step150', 'step300', 'step600']);
  assert.strictEqual(d.model, 'saelab/demo-base');
  const o = checkpointsConfig({ checkpoints: { matchMethod: 'decoder', training: { lr: 0.01 } } });
  assert.strictEqual(o.matchMethod, 'decoder');
  assert.strictEqual(o.training.lr, 0.01);
  assert.strictEqual(o.training.l1Coefficient, DEFAULT_CHECKPOINTS_CONFIG.training.l1Coefficient);
  assert.throws(() => checkpointsConfig({ checkpoints: { hooks: 'x' } }, 'demo.json'), /unknown config key 'hooks'/);
  assert.throws(() => checkpointsConfig({ checkpoints: { matchMethod: 'cosine' } }), /matchMethod must be/);
  assert.throws(() => checkpointsConfig({ checkpoints: { checkpoints: [{ label: 'b', step: 5 }, { label: 'a', step: 1 }] } }), /increasing step order/);
  const spec = sweepSpecFromConfig(d, { dataset: 'saelab/demo-text' });
  assert.strictEqual(spec.hook, d.hook);
  assert.strictEqual(spec.data!.dataset, 'saelab/demo-text');
});
