/**
 * Safety's checks (#21) hold for every registered architecture: strict JSON types for the fields the
 * architecture modules add (cfg.json k / d_out, training k / dOut / matryoshkaWidths / topkThresholdLr),
 * ConfigError from each module's own validation, and the non-finite stop in training for every trainable
 * architecture (transcoders included), with no SAE written.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { runCli, tempsUnder } from '../safety/util';
import { ConfigError } from '../../lib/io/errors';
import { writeSafetensors } from '../../lib/io/safetensors';
import { resolveTrainConfig } from '../../lib/train/config';
import { parseSAEConfig } from '../../lib/sae/config';
import { listArchitectures, trainingArchitecture } from '../../lib/sae/architectures';

before(setupBackend);

const isConfigError = (key: RegExp) => (e: Error) => e instanceof ConfigError && key.test(e.message);

test('training fields of the architecture modules: JSON types, finiteness, ranges and their own checks are ConfigErrors naming the field', () => {
  const base = { dIn: 4, dSae: 16, trainingTokens: 64, trainBatchSizeTokens: 16 };
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ architecture: 'topk', k: '4' }, /k must be a number/],
    [{ architecture: 'batchtopk', k: -2 }, /k must be > 0/],
    [{ architecture: 'batchtopk', k: 2, topkThresholdLr: 2 }, /topkThresholdLr/],
    [{ architecture: 'batchtopk', k: 2, rescaleActsByDecoderNorm: 'yes' }, /rescaleActsByDecoderNorm must be a boolean/],
    [{ architecture: 'matryoshka_batchtopk', k: 2, matryoshkaWidths: '4,8' }, /matryoshkaWidths must be an array/],
    [{ architecture: 'matryoshka_batchtopk', k: 2, matryoshkaWidths: [4, NaN] }, /matryoshkaWidths must be an array of finite numbers/],
    [{ architecture: 'matryoshka_batchtopk', k: 2, matryoshkaWidths: [8, 4] }, /matryoshkaWidths must be strictly increasing/],
    [{ architecture: 'matryoshka_batchtopk', k: 2, matryoshka_widths: [4, 8] }, /unknown field 'matryoshka_widths'/],
    [{ architecture: 'transcoder', dOut: '3' }, /dOut must be a number/],
    [{ architecture: 'transcoder', dOut: 2.5 }, /dOut must be a positive integer/],
    [{ architecture: 'skip_transcoder' }, /needs dOut/],
    [{ architecture: 'jumprelu', jumpreluSparsityLossMode: 'l0' }, /jumpreluSparsityLossMode/],
    [{ architecture: 'jumprelu', preActLossCoefficient: 'off' }, /preActLossCoefficient must be a number or null/],
    [{ decoderInitNorm: -1 }, /decoderInitNorm/],
    [{ defaults: 'saelens4' }, /defaults 'saelens4' is not a preset/],
    [{ architecture: 'nope' }, /architecture 'nope' is not supported for training/],
  ];
  for (const [over, key] of bad) assert.throws(() => resolveTrainConfig({ ...base, ...over } as never), isConfigError(key), JSON.stringify(over));
  // null switches these features off; it is a value, not a type error
  assert.strictEqual(resolveTrainConfig({ ...base, decoderInitNorm: null } as never).decoderInitNorm, null);
  assert.strictEqual(resolveTrainConfig({ ...base, architecture: 'jumprelu', preActLossCoefficient: null } as never).preActLossCoefficient, null);
  // batchtopk's k is an average over the batch and may be fractional
  assert.strictEqual(resolveTrainConfig({ ...base, architecture: 'batchtopk', k: 2.5 } as never).k, 2.5);
});

test('cfg.json fields of the architecture modules are read without coercion and checked by the module, naming the file', () => {
  const where = '/x/cfg.json';
  const md = { hook_name: 'blocks.0.hook_resid_pre', hook_name_out: 'blocks.0.hook_mlp_out', sae_lens_version: '6.18.0' };
  const topk = { architecture: 'topk', d_in: 4, d_sae: 8, k: 2, metadata: md };
  const tc = { architecture: 'transcoder', d_in: 4, d_sae: 8, d_out: 3, apply_b_dec_to_input: false, metadata: md };
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...topk, k: '2' }, /k must be a number, got "2"/],
    [{ ...topk, k: 2.5 }, /positive integer k/],
    [{ ...topk, k: 9 }, /exceeds d_sae/],
    [{ ...topk, rescale_acts_by_decoder_norm: 1 }, /rescale_acts_by_decoder_norm must be a boolean/],
    [{ ...tc, d_out: '3' }, /d_out must be a number/],
    [{ ...tc, d_out: 0 }, /d_out/],
    [{ ...tc, apply_b_dec_to_input: true }, /apply_b_dec_to_input is not supported for transcoders/],
    [{ ...topk, architecture: 'batchtopk' }, /batchtopk is a training architecture, which SAELens saves as "jumprelu"/],
  ];
  for (const [raw, key] of bad) {
    assert.throws(() => parseSAEConfig(raw, where), (e: Error) => isConfigError(key)(e) && e.message.includes(where), JSON.stringify(raw));
  }
  // null (as SAELens writes None) takes the dataclass default
  assert.strictEqual(parseSAEConfig({ ...topk, d_sae: 128, k: null }, where).k, 100);
});

test('every trainable architecture stops at the first non-finite loss (train-sae --lr 1e308), naming the step, writing no SAE', async () => {
  const dir = tmpDir('archs-nonfinite-');
  const acts = path.join(dir, 'acts.safetensors');
  const rows = 256;
  writeSafetensors(acts, {
    x: { shape: [rows, 4], data: Float32Array.from({ length: rows * 4 }, (_, i) => Math.sin(i * 0.7) + (i % 4)) },
    y: { shape: [rows, 3], data: Float32Array.from({ length: rows * 3 }, (_, i) => Math.cos(i * 0.3)) },
  });
  const archs = listArchitectures('training');
  assert.ok(archs.length >= 9, archs.join(', '));
  for (const arch of archs) {
    const out = path.join(dir, arch);
    const extra = trainingArchitecture(arch).target === 'output' ? ['--target-tensor', 'y'] : [];
    if (arch === 'matryoshka_batchtopk') extra.push('--matryoshka-widths', '2,4');
    if (trainingArchitecture(arch).defaults.saelens6.k !== undefined) extra.push('--k', '2');
    const r = await runCli(['train-sae', '--activations', acts, '--tensor', 'x', '--architecture', arch, '--d-sae', '8', '--steps', '20', '--batch', '16', '--lr', '1e308', '--out', out, '--quiet', ...extra]);
    assert.strictEqual(r.code, 1, `${arch}: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /non-finite loss .*at step \d+/, arch);
    assert.ok(!fs.existsSync(path.join(out, 'sae_weights.safetensors')), `${arch}: no SAE with non-finite weights is written`);
  }
  assert.deepStrictEqual(tempsUnder(dir), []);
});

test('a transcoder\'s target activations with NaN are refused, naming the file, tensor and count', async () => {
  const dir = tmpDir('archs-nan-target-');
  const x = path.join(dir, 'x.safetensors');
  const y = path.join(dir, 'y.safetensors');
  writeSafetensors(x, { x: { shape: [64, 4], data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)) } });
  const yData = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.cos(i));
  yData[5] = NaN;
  yData[6] = Infinity;
  writeSafetensors(y, { y: { shape: [64, 3], data: yData } });
  const out = path.join(dir, 'tc');
  const r = await runCli(['train-sae', '--activations', x, '--tensor', 'x', '--target-activations', y, '--target-tensor', 'y', '--architecture', 'transcoder',
    '--d-sae', '8', '--steps', '4', '--batch', '16', '--out', out, '--quiet']);
  assert.strictEqual(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(`${y}:y`) && /2 non-finite/.test(r.stderr), r.stderr);
  assert.ok(!fs.existsSync(path.join(out, 'sae_weights.safetensors')));
});
