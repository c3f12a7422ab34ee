import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT, tmpDir } from '../helpers';
import { loadConfig } from '../../lib/stages/config';
import { checkpointsConfig, DEFAULT_CHECKPOINTS_CONFIG, PYTHIA_70M_DEDUPED_CHECKPOINTS, sweepSpecFromConfig } from '../../lib/checkpoints/config';

test('checkpoints config: demo defaults, overrides, and errors naming the key', () => {
  const d = checkpointsConfig({ checkpoints: {} });
  // every default revision is one the shipped demo world has (data/hub refs)
  const refs = fs.readdirSync(path.join(REPO_ROOT, 'data', 'hub', 'models--saelab--demo-base', 'refs'));
  assert.deepStrictEqual(d.checkpoints.map((c) => c.revision).sort(), refs.filter((r) => r.startsWith('step')).sort());
  assert.strictEqual(d.model, 'saelab/demo-base');
  assert.ok(fs.existsSync(path.join(REPO_ROOT, d.circuit.dataset)), 'the demo circuit data ships');
  const o = checkpointsConfig({ checkpoints: { matchMethod: 'decoder', training: { lr: 0.01 }, circuit: { nodeThreshold: 0.2 } } });
  assert.strictEqual(o.matchMethod, 'decoder');
  assert.strictEqual(o.training.lr, 0.01);
  assert.strictEqual(o.training.l1Coefficient, DEFAULT_CHECKPOINTS_CONFIG.training.l1Coefficient);
  assert.strictEqual(o.circuit.nodeThreshold, 0.2);
  assert.strictEqual(o.circuit.appearThreshold, DEFAULT_CHECKPOINTS_CONFIG.circuit.appearThreshold);
  assert.throws(() => checkpointsConfig({ checkpoints: { hooks: 'x' } }, 'demo.json'), /unknown config key 'hooks'/);
  assert.throws(() => checkpointsConfig({ checkpoints: { matchMethod: 'cosine' } }), /matchMethod must be/);
  assert.throws(() => checkpointsConfig({ checkpoints: { circuit: { method: 'exact' } } }), /circuit\.method must be "atp" or "ig"/);
  assert.throws(() => checkpointsConfig({ checkpoints: { checkpoints: [{ label: 'b', step: 5, revision: 'b' }, { label: 'a', step: 1, revision: 'a' }] } }), /increasing step order/);
  const spec = sweepSpecFromConfig(d, { dataset: 'saelab/demo-text' });
  assert.strictEqual(spec.hook, d.hook);
  assert.strictEqual(spec.data!.dataset, 'saelab/demo-text');
});

test('the experiment config types the checkpoints section; loadConfig rejects bad values naming the file', () => {
  const dir = tmpDir();
  const f = path.join(dir, 'c.json');
  fs.writeFileSync(f, JSON.stringify({ name: 'x' }));
  assert.deepStrictEqual(loadConfig(f).checkpoints, DEFAULT_CHECKPOINTS_CONFIG);
  fs.writeFileSync(f, JSON.stringify({ name: 'x', checkpoints: { circuit: { nExamples: 'many' } } }));
  assert.throws(() => loadConfig(f), /c\.json: config key 'checkpoints\.circuit\.nExamples' must be a number/);
  fs.writeFileSync(f, JSON.stringify({ name: 'x', checkpoints: { checkpoints: [{ label: 's2', step: 2, revision: 's2' }, { label: 's1', step: 1, revision: 's1' }] } }));
  assert.throws(() => loadConfig(f), /c\.json: checkpoints\.checkpoints must be in increasing step order/);
});

test('the Pythia-70m-deduped preset loads, validates, and equals the library preset', () => {
  const c = loadConfig(path.join(REPO_ROOT, 'configs', 'pythia-70m-checkpoints.json'));
  assert.strictEqual(c.name, 'pythia-70m-checkpoints');
  assert.deepStrictEqual(c.checkpoints, PYTHIA_70M_DEDUPED_CHECKPOINTS);
  assert.deepStrictEqual(c.checkpoints.checkpoints.map((x) => x.revision), ['step0', 'step1000', 'step5000', 'step10000', 'step33000', 'step66000', 'step143000']);
  assert.strictEqual(c.checkpoints.hook, c.sae.id, 'the sweep hook is the published SAE\'s hook');
  assert.strictEqual(c.dataset.path, 'NeelNanda/pile-10k');
});
