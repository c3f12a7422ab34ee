/** Names that become paths are validated; configs are checked by own keys, for range (naming the key) and for null. */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, REPO_ROOT } from '../helpers';
import { runCli } from './util';
import { ConfigError } from '../../lib/io/errors';
import { loadConfig } from '../../lib/notebook/config';
import { runPipeline } from '../../lib/pipeline/run';
import { runPipelineSlurm } from '../../lib/pipeline/slurm';
import { headlessStage } from '../../lib/stages/shard/context';
import { validatePathName } from '../../lib/io/folders';
import { resolveTrainConfig } from '../../lib/train/config';
import { parseSAEConfig } from '../../lib/sae/config';

const dir = tmpDir('safety-config-');
let n = 0;
function configFile(value: unknown): string {
  const f = path.join(dir, `c${n++}.json`);
  fs.writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
  return f;
}
function rejects(value: unknown, key: RegExp): void {
  const f = configFile(value);
  assert.throws(() => loadConfig(f), (e: Error) => e instanceof ConfigError && key.test(e.message) && e.message.includes(f), `${JSON.stringify(value)} should be refused naming ${key}`);
}

test('names that become folders: no ".", "..", separators or empty names', () => {
  for (const bad of ['.', '..', '', 'a/b', 'a\\b', '../runs', 'x\0y', ' ']) assert.throws(() => validatePathName(bad, 'run name'), ConfigError, JSON.stringify(bad));
  for (const ok of ['demo', 'gemma-math', 'run_2.v1', '.hidden-ok']) assert.strictEqual(validatePathName(ok, 'run name'), ok);
  rejects({ name: '..' }, /name/);
  rejects({ name: '.' }, /name/);
  rejects({ checkpoints: { checkpoints: [{ label: '..', step: 0, revision: 'step0' }] } }, /checkpoints\.checkpoints\[0\]\.label/);
});

test('--run-name .. is refused by the local and SLURM pipelines and by saelab stage, before anything is written', async () => {
  const before = fs.readdirSync(path.join(REPO_ROOT));
  await assert.rejects(runPipeline({ runName: '..', log: () => {} }), ConfigError);
  await assert.rejects(runPipelineSlurm({ runName: '..', log: () => {}, client: { submit: () => '1', queue: () => [], cancel: () => {} } }), ConfigError);
  await assert.rejects(headlessStage('01_compute_activations', { runName: '..' }), ConfigError);
  const r = await runCli(['stage', '01_compute_activations', '--run-name', '.']);
  assert.strictEqual(r.code, 1);
  assert.match(r.stderr, /run name/);
  assert.deepStrictEqual(fs.readdirSync(path.join(REPO_ROOT)), before);
});

test('unknown keys are found by own properties: "constructor", "toString", "__proto__" are unknown', () => {
  rejects('{"constructor": 1}', /unknown config key 'constructor'/);
  rejects('{"activations": {"toString": 2}}', /unknown config key 'activations\.toString'/);
  rejects('{"__proto__": {"name": "x"}}', /unknown config key '__proto__'/);
  rejects('{"crosslayer": {"hasOwnProperty": true}}', /unknown config key 'crosslayer\.hasOwnProperty'/);
});

test('numbers are checked for range and integrality, naming the key', () => {
  rejects({ activations: { nBatches: -3 } }, /activations\.nBatches/);
  rejects({ eval: { batchSize: 0 } }, /eval\.batchSize/);
  rejects({ transfer: { nBatches: 1.5 } }, /transfer\.nBatches/);
  rejects({ contextSize: 0 }, /contextSize/);
  rejects({ maxTokensPerForward: -1 }, /maxTokensPerForward/);
  rejects({ seed: 0.5 }, /seed/);
  rejects('{"transfer": {"deadThreshold": 1e999}}', /transfer\.deadThreshold/);
  rejects({ outliers: { multiplier: -2 } }, /outliers\.multiplier/);
  rejects({ base: { dVocab: 0 } }, /base\.dVocab/);
  rejects({ circuits: { ablation: { contextsPerNode: 0 } } }, /circuits\.ablation\.contextsPerNode/);
  rejects({ circuits: { hooks: ['blocks.0.hook_resid_pre', 3] } }, /circuits\.hooks/);
  rejects({ checkpoints: { training: { lr: 0 } } }, /checkpoints\.training\.lr/);
  rejects({ checkpoints: { trainBatches: -1 } }, /checkpoints\.trainBatches/);
});

test('null is refused where a value is required, accepted where the config allows it', () => {
  rejects({ contextSize: null }, /contextSize/);
  rejects({ activations: null }, /activations/);
  rejects({ base: { model: null } }, /base\.model/);
  rejects({ outliers: { absoluteThreshold: 'high' } }, /outliers\.absoluteThreshold/);
  rejects({ base: { tokenizer: 5 } }, /base\.tokenizer/);
  const ok = loadConfig(configFile({ outliers: { multiplier: null, absoluteThreshold: 200 } }));
  assert.strictEqual(ok.outliers.multiplier, null);
  for (const f of fs.readdirSync(path.join(REPO_ROOT, 'configs'))) loadConfig(path.join(REPO_ROOT, 'configs', f)); // every preset stays valid
});

test('train config: types, ranges and unknown keys, naming the field', () => {
  const base = { dIn: 4, trainingTokens: 64, trainBatchSizeTokens: 16 };
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ dIn: '64' }, /dIn/], [{ dSae: '8' }, /dSae/], [{ lr: '3e-4' }, /lr/], [{ l1Coefficient: -1 }, /l1Coefficient/],
    [{ l1_coefficient: 1 }, /unknown .*l1_coefficient/], [{ useGhostGrads: 'yes' }, /useGhostGrads/], [{ adamBeta1: 1.5 }, /adamBeta1/],
    [{ lr: Infinity }, /lr/], [{ seed: -1 }, /seed/], [{ noiseScale: -0.1 }, /noiseScale/], [{ metadata: null }, /metadata/], [{ constructor: 1 }, /unknown .*constructor/],
  ];
  for (const [over, key] of bad) assert.throws(() => resolveTrainConfig({ ...base, ...over } as never), (e: Error) => e instanceof ConfigError && key.test(e.message), JSON.stringify(over));
});

test('SAE cfg.json: d_in as a string, or a fractional d_sae, is refused naming the field and the file', () => {
  const good = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu', 'cfg.json'), 'utf8'));
  for (const [over, key] of [[{ d_in: '3' }, /d_in/], [{ d_sae: 4.5 }, /d_sae/], [{ apply_b_dec_to_input: 'true' }, /apply_b_dec_to_input/], [{ architecture: null }, /architecture/]] as const) {
    assert.throws(() => parseSAEConfig({ ...good, ...over }, '/x/cfg.json'), (e: Error) => e instanceof ConfigError && key.test(e.message) && e.message.includes('/x/cfg.json'), JSON.stringify(over));
  }
});
