import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '../helpers';
import { checkpointsConfig, DEFAULT_CHECKPOINTS_CONFIG, sweepSpecFromConfig } from '../../lib/checkpoints/config';

test('checkpoints config: demo defaults, overrides, and errors naming the key', () => {
  const d = checkpointsConfig({ checkpoints: {} });
  // every default revision is one the shipped demo world has (data/hub refs)
  const refs = fs.readdirSync(path.join(REPO_ROOT, 'data', 'hub', 'models--saelab--demo-base', 'refs'));
  assert.deepStrictEqual(d.checkpoints.map((c) => c.revision).sort(), refs.filter((r) => r.startsWith('step')).sort());
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
