/** Strict command-line numbers, scheduler arguments validated and quoted, and errors that name the file or argument. */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir, REPO_ROOT } from '../helpers';
import { runCli, userFolder } from './util';
import { ArgumentError } from '../../lib/io/errors';
import { SafetensorsError, SafetensorsFile, writeSafetensors, loadSafetensors } from '../../lib/io/safetensors';
import { pipelineMain } from '../../lib/pipeline/cli';
import { planSlurmJobs, runPipelineSlurm, sbatchScript } from '../../lib/pipeline/slurm';
import { SAE } from '../../lib/sae/sae';

before(setupBackend);

const NO_SLURM = { submit: (): string => { throw new Error('must not submit'); }, queue: () => [], cancel: () => {} };

async function pipelineError(argv: string[]): Promise<string> {
  try {
    await pipelineMain(argv);
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

test('numbers on the command line are plain decimal integers or numbers: 1e0, 0x10, " 8", 2.0 and negative penalties are refused naming the flag', async () => {
  assert.match(await pipelineError(['--scheduler', 'slurm', '--shards', '1e0']), /--shards/);
  assert.match(await pipelineError(['--scheduler', 'slurm', '--shards', '0x2']), /--shards/);
  const dir = tmpDir('safety-args-');
  const acts = path.join(dir, 'a.safetensors');
  writeSafetensors(acts, { x: { shape: [32, 3], data: Float32Array.from({ length: 96 }, (_, i) => Math.sin(i)) } });
  const cases: Array<[string[], RegExp]> = [
    [['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '4', '--batch', '16', '--l1', '-1', '--out', path.join(dir, 's1')], /--l1/],
    [['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '1e1', '--batch', '16', '--out', path.join(dir, 's2')], /--steps/],
    [['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8.0', '--steps', '4', '--batch', '16', '--out', path.join(dir, 's3')], /--d-sae/],
    [['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '4', '--batch', '16', '--lr', '-0.1', '--out', path.join(dir, 's4')], /--lr/],
    [['sae', '--sae', path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu'), '--in', acts, '--tensor', 'x', '--out', path.join(dir, 'o'), '--batch', '0x10'], /--batch/],
    [['crosslayer', '--acts', `${acts},${acts}`, '--tensor', 'x', '--batch-tokens', '1e3', '--out', path.join(dir, 'c')], /--batch-tokens/],
    [['crosslayer', '--acts', `${acts},${acts}`, '--tensor', 'x', '--graph-min', 'abc', '--out', path.join(dir, 'c2')], /--graph-min/],
    [['merge', '04_sae_eval', '--shards', '2.0'], /--shards/],
    [['stage', '04_sae_eval', '--shard', '0/1e1'], /--shard/],
  ];
  for (const [argv, flag] of cases) {
    const r = await runCli(argv);
    assert.strictEqual(r.code, 1, `${argv.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, flag, argv.join(' '));
  }
  assert.ok(!fs.existsSync(path.join(dir, 's1')) && !fs.existsSync(path.join(dir, 'c')), 'nothing is written for refused arguments');
});

test('--partition, --time and --gpus with whitespace, newlines, quotes or other syntax are refused before anything is submitted', async () => {
  const bad: Array<[string, string]> = [
    ['partition', 'gpu\n#SBATCH --wrap=rm'], ['partition', 'gpu debug'], ['partition', "gpu'"], ['time', '02:00:00\nrm -rf ~'], ['time', 'soon'],
    ['gpus', '1 --exclusive'], ['gpus', '$(id)'], ['partition', ''],
  ];
  for (const [flag, value] of bad) {
    await assert.rejects(runPipelineSlurm({ [flag]: value, log: () => {}, client: NO_SLURM }), (e: Error) => e instanceof ArgumentError && e.message.includes(`--${flag}`), `${flag}=${JSON.stringify(value)}`);
    assert.match(await pipelineError(['--scheduler', 'slurm', `--${flag}`, value]), new RegExp(`--${flag}`));
  }
  const jobs = planSlurmJobs(['01_compute_activations'], { shards: 2, config: '/c.json', runName: 'demo', notebooks: false, node: '/usr/bin/node' });
  const opts = { runName: 'demo', runDir: '/shared/runs/demo', logDir: '/shared/runs/demo/logs', token: 't' };
  assert.throws(() => sbatchScript(jobs[1], { ...opts, partition: 'a\nb' }, []), ArgumentError, 'sbatchScript itself refuses what it cannot quote');
  // accepted values are written as quoted words (sbatch strips the quotes), so is a log path with a space
  const s = sbatchScript(jobs[1], { ...opts, logDir: '/shared/my runs/demo/logs', partition: 'gpu,debug', time: '1-02:00:00', gpus: 'a100:2' }, []);
  assert.match(s, /\n#SBATCH --partition="gpu,debug"\n/);
  assert.match(s, /\n#SBATCH --time="1-02:00:00"\n/);
  assert.match(s, /\n#SBATCH --gpus="a100:2"\n/);
  assert.match(s, /\n#SBATCH --output="\/shared\/my runs\/demo\/logs\/01_compute_activations\.shards-%a\.log"\n/);
});

test('a folder passed where a file is expected, or a missing file, is an error naming it (no bare EISDIR / ENOENT)', async () => {
  const dir = tmpDir('safety-eisdir-');
  const user = userFolder(dir);
  assert.throws(() => SafetensorsFile.open(user.dir), (e: Error) => e instanceof SafetensorsError && e.message.startsWith(`${user.dir}: `) && /folder/.test(e.message));
  assert.throws(() => SafetensorsFile.open(path.join(dir, 'nope.safetensors')), (e: Error) => e instanceof SafetensorsError && /does not exist/.test(e.message));
  const r = await runCli(['sae', '--sae', path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu'), '--in', user.dir, '--tensor', 'x', '--out', path.join(dir, 'o.safetensors')]);
  assert.strictEqual(r.code, 1);
  assert.ok(r.stderr.includes(user.dir) && !/EISDIR/.test(r.stderr), r.stderr);
  const out = await runCli(['sae', '--sae', path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu'), '--in', path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu', 'sae_weights.safetensors'), '--tensor', 'W_dec', '--out', user.dir]);
  assert.strictEqual(out.code, 1);
  assert.ok(out.stderr.includes(user.dir) && /--out/.test(out.stderr) && !/EISDIR/.test(out.stderr), out.stderr);
  assert.deepStrictEqual(fs.readdirSync(user.dir), ['precious.txt']);
});

test('an SAE folder whose weights do not match its cfg.json names the folder', async () => {
  const dir = tmpDir('safety-sae-shape-');
  const src = path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu');
  const bad = path.join(dir, 'sae');
  fs.mkdirSync(bad);
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(bad, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(bad, 'cfg.json'), 'utf8'));
  fs.writeFileSync(path.join(bad, 'cfg.json'), JSON.stringify({ ...cfg, d_sae: 5 }));
  await assert.rejects(SAE.load(bad), (e: Error) => e.message.includes(bad) && /W_enc/.test(e.message));
  assert.ok(loadSafetensors(path.join(src, 'sae_weights.safetensors')));
});
