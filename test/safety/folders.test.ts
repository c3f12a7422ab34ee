/** Never delete or overwrite what saelab did not create: folders carry a marker, unmarked non-empty ones are refused. */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { runCli, userFolder } from './util';
import { FOLDER_MARKER, FolderError, claimFolder, removeSaelabFolder } from '../../lib/io';
import { writeDirAtomic } from '../../lib/io/atomic';
import { writeSafetensors } from '../../lib/io/safetensors';
import { setupStage } from '../../lib/notebook/stage';

before(setupBackend);

test('claimFolder: a new or empty folder is marked; a marked one is accepted; a non-empty unmarked one is refused, untouched', () => {
  const dir = tmpDir('safety-folders-');
  const fresh = claimFolder(path.join(dir, 'new', 'deep'), 'test output');
  assert.ok(fs.existsSync(path.join(fresh, FOLDER_MARKER)), 'a new folder gets the marker');
  fs.mkdirSync(path.join(dir, 'empty'));
  claimFolder(path.join(dir, 'empty'), 'test output');
  assert.ok(fs.existsSync(path.join(dir, 'empty', FOLDER_MARKER)), 'an empty folder gets the marker');
  fs.writeFileSync(path.join(fresh, 'result.json'), '{}');
  claimFolder(fresh, 'test output'); // marked and non-empty: ours
  const user = userFolder(dir);
  assert.throws(() => claimFolder(user.dir, 'the --out folder'), (e: Error) => e instanceof FolderError && e.message.includes(user.dir) && /not created by saelab/.test(e.message) && /--out/.test(e.message));
  assert.deepStrictEqual(fs.readdirSync(user.dir), ['precious.txt']);
  assert.throws(() => removeSaelabFolder(user.dir), FolderError);
  assert.ok(fs.existsSync(user.file));
  removeSaelabFolder(fresh);
  assert.ok(!fs.existsSync(fresh), 'a marked folder is removed');
  removeSaelabFolder(path.join(dir, 'empty'));
  assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'empty')), [], 'a folder that existed before saelab marked it is emptied, not removed');
  // a file where a folder is wanted
  assert.throws(() => claimFolder(user.file, 'the --out folder'), (e: Error) => e instanceof FolderError && e.message.includes(user.file));
});

test('crosslayer --state-dir on a user folder is refused and nothing in it is deleted (also with --keep-state)', async () => {
  const dir = tmpDir('safety-state-');
  const user = userFolder(dir);
  const args = ['crosslayer', '--model', 'saelab/demo-base', '--sae-release', 'saelab-demo-res', '--dataset', 'saelab/demo-text', '--split', 'validation',
    '--context-size', '32', '--batch-size', '4', '--tokens', '256', '--save-every', '128', '--state-dir', user.dir, '--out', path.join(dir, 'out')];
  for (const extra of [[], ['--keep-state']]) {
    const r = await runCli([...args, ...extra]);
    assert.strictEqual(r.code, 1, r.stderr);
    assert.match(r.stderr, /not created by saelab/);
    assert.ok(r.stderr.includes(user.dir), r.stderr);
    assert.strictEqual(fs.readFileSync(user.file, 'utf8'), 'do not delete');
  }
  // a fresh state folder works, is marked while in use and removed after success
  const state = path.join(dir, 'state');
  const ok = await runCli([...args.slice(0, -4), '--state-dir', state, '--out', path.join(dir, 'out2')]);
  assert.strictEqual(ok.code, 0, ok.stderr);
  assert.ok(!fs.existsSync(state));
});

test('crosslayer --out and train-sae --out refuse a non-empty folder saelab did not create, before any work', async () => {
  const dir = tmpDir('safety-out-');
  const user = userFolder(dir);
  const acts = path.join(dir, 'acts.safetensors');
  writeSafetensors(acts, { x: { shape: [64, 4], data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)) } });
  const cl = await runCli(['crosslayer', '--acts', `${acts},${acts}`, '--tensor', 'x', '--out', user.dir]);
  assert.strictEqual(cl.code, 1);
  assert.match(cl.stderr, /--out .*not created by saelab/s);
  const tr = await runCli(['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '4', '--batch', '16', '--out', user.dir, '--quiet']);
  assert.strictEqual(tr.code, 1);
  assert.match(tr.stderr, /--out .*not created by saelab/s);
  assert.deepStrictEqual(fs.readdirSync(user.dir), ['precious.txt']);
  // the same commands into a new folder work, and a rerun into that (marked) folder is allowed
  const out = path.join(dir, 'sae');
  for (let i = 0; i < 2; i++) {
    const r = await runCli(['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '4', '--batch', '16', '--out', out, '--quiet']);
    assert.strictEqual(r.code, 0, r.stderr);
  }
  assert.ok(fs.existsSync(path.join(out, 'sae_weights.safetensors')));
});

test('a run folder ($SAELAB_RUN_DIR) that holds a user\'s files is refused; an earlier saelab run folder is recognised and marked', async () => {
  const dir = tmpDir('safety-rundir-');
  const user = userFolder(dir);
  const prev = process.env.SAELAB_RUN_DIR;
  try {
    process.env.SAELAB_RUN_DIR = user.dir;
    await assert.rejects(setupStage('01_compute_activations', { quiet: true }), (e: Error) => e instanceof FolderError && e.message.includes(user.dir));
    assert.deepStrictEqual(fs.readdirSync(user.dir), ['precious.txt']);
    // a run folder written before markers existed: stage folders with saelab manifests
    const legacy = path.join(dir, 'legacy');
    fs.mkdirSync(path.join(legacy, '01_compute_activations'), { recursive: true });
    fs.writeFileSync(path.join(legacy, '01_compute_activations', 'manifest.json'), JSON.stringify({ stage: '01_compute_activations', saelabVersion: '0.1.0', artifacts: [] }));
    process.env.SAELAB_RUN_DIR = legacy;
    const ctx = await setupStage('02_compute_similarities', { quiet: true });
    assert.strictEqual(ctx.runDir, legacy);
    assert.ok(fs.existsSync(path.join(legacy, FOLDER_MARKER)));
  } finally {
    if (prev === undefined) delete process.env.SAELAB_RUN_DIR; else process.env.SAELAB_RUN_DIR = prev;
  }
});

test('writeDirAtomic never replaces a folder holding files it does not rewrite', async () => {
  const dir = tmpDir('safety-diratomic-');
  const user = userFolder(dir);
  await assert.rejects(writeDirAtomic(user.dir, (tmp) => fs.writeFileSync(path.join(tmp, 'cfg.json'), '{}')), (e: Error) => e instanceof FolderError && e.message.includes('precious.txt'));
  assert.deepStrictEqual(fs.readdirSync(user.dir), ['precious.txt']);
  assert.deepStrictEqual(fs.readdirSync(dir), ['mine'], 'no temporary folder is left behind');
  // rewriting the same files (a checkpoint saved again) replaces the folder
  const ck = path.join(dir, 'ck');
  await writeDirAtomic(ck, (tmp) => { fs.writeFileSync(path.join(tmp, 'a'), '1'); fs.writeFileSync(path.join(tmp, 'b'), '1'); });
  await writeDirAtomic(ck, (tmp) => { fs.writeFileSync(path.join(tmp, 'a'), '2'); fs.writeFileSync(path.join(tmp, 'b'), '2'); });
  assert.strictEqual(fs.readFileSync(path.join(ck, 'a'), 'utf8'), '2');
});
