/** Temporary files never outlive a run; a stage is reused only when each artifact still has its recorded size and hash. */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { tmpDir } from '../helpers';
import { tempsUnder } from './util';
import { writeFileAtomic, writeJsonAtomic } from '../../lib/io/atomic';
import { SaelabError } from '../../lib/io/errors';
import { removeStaleTemps } from '../../lib/io/folders';
import { invalidateStage, reusableStage, writeManifest } from '../../lib/notebook/stage';

/** A process id that is certainly not running (beyond Linux's pid_max). */
const DEAD_PID = 4194304 + 17;

test('writeFileAtomic removes its temporary file when the final rename fails, and names the file', () => {
  const dir = tmpDir('safety-atomic-');
  const target = path.join(dir, 'results.json');
  fs.mkdirSync(target); // a folder where the file should go: rename fails
  fs.writeFileSync(path.join(target, 'inside'), 'x');
  assert.throws(() => writeFileAtomic(target, 'data'), (e: Error) => e instanceof SaelabError && e.message.includes(target));
  assert.deepStrictEqual(tempsUnder(dir), []);
  assert.deepStrictEqual(fs.readdirSync(dir), ['results.json']);
});

test('temporaries of a dead process are removed on the next run; those of live processes are kept', () => {
  const dir = tmpDir('safety-stale-');
  const stale = [`results.json.tmp-${DEAD_PID}-ab12cd`, `.sae.tmp-${DEAD_PID}-zz99yy`, `.ck.tmp-${DEAD_PID}-qq11ww.old`];
  for (const s of stale.slice(0, 1)) fs.writeFileSync(path.join(dir, s), 'partial');
  for (const s of stale.slice(1)) { fs.mkdirSync(path.join(dir, s)); fs.writeFileSync(path.join(dir, s, 'f'), 'x'); }
  const live = `other.json.tmp-${process.ppid}-ab12cd`;
  fs.writeFileSync(path.join(dir, live), 'being written');
  fs.writeFileSync(path.join(dir, 'notes.tmp-draft'), 'a user file that only looks similar');
  assert.deepStrictEqual(removeStaleTemps(dir).map((p) => path.basename(p)).sort(), [...stale].sort());
  assert.deepStrictEqual(fs.readdirSync(dir).sort(), [live, 'notes.tmp-draft'].sort());
});

test('a stage rerun (invalidateStage) and a reuse check both clear a killed run\'s temporaries', () => {
  const dir = tmpDir('safety-stage-temps-');
  fs.writeFileSync(path.join(dir, `feature_scores.safetensors.tmp-${DEAD_PID}-x1y2z3`), 'partial');
  invalidateStage(dir);
  assert.deepStrictEqual(tempsUnder(dir), []);
  writeJsonAtomic(path.join(dir, 'results.json'), { a: 1 });
  writeManifest(dir, 'xx_test', { k: 1 }, ['results.json']);
  fs.writeFileSync(path.join(dir, `results.json.tmp-${DEAD_PID}-x1y2z3`), 'partial');
  assert.ok(reusableStage(dir, { k: 1 }));
  assert.deepStrictEqual(tempsUnder(dir), []);
});

test('the manifest records each artifact\'s size and SHA-256; a truncated or edited artifact makes the stage stale', () => {
  const dir = tmpDir('safety-reuse-');
  const a = path.join(dir, 'acts.bin');
  const content = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  fs.writeFileSync(a, content);
  writeJsonAtomic(path.join(dir, 'results.json'), { ok: true });
  const m = writeManifest(dir, 'xx_test', { k: 2 }, ['acts.bin', 'results.json']);
  assert.deepStrictEqual(m.files['acts.bin'].size, 5000);
  assert.strictEqual(m.files['acts.bin'].sha256, createHash('sha256').update(content).digest('hex'));
  assert.ok(reusableStage(dir, { k: 2 }), 'intact: reused');
  assert.strictEqual(reusableStage(dir, { k: 3 }), null, 'other inputs: recomputed');

  // truncated (as a crash or a full disk would leave it)
  fs.truncateSync(a, 4000);
  assert.strictEqual(reusableStage(dir, { k: 2 }), null, 'truncated: recomputed');
  // same size, different bytes, mtime restored: the size + mtime fast path cannot see it, but edited files get a new mtime
  const edited = Buffer.from(content);
  edited[100] ^= 1;
  fs.writeFileSync(a, edited);
  const later = new Date(Date.now() + 10_000);
  fs.utimesSync(a, later, later); // (a coarse-timestamp filesystem might otherwise keep the old mtime)
  assert.strictEqual(reusableStage(dir, { k: 2 }), null, 'edited: recomputed (hash differs)');
  // copied back with a new mtime and the same bytes (cp without -p): the hash matches, reused
  fs.writeFileSync(a, content);
  const t = new Date(Date.now() + 20_000);
  fs.utimesSync(a, t, t);
  assert.ok(reusableStage(dir, { k: 2 }), 'same bytes, new mtime: reused after rehashing');
  // a manifest from before sizes and hashes were recorded is not trusted
  const old = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  delete old.files;
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(old));
  assert.strictEqual(reusableStage(dir, { k: 2 }), null, 'no recorded sizes/hashes: recomputed');
});

test('artifacts that are folders are recorded file by file', () => {
  const dir = tmpDir('safety-reuse-dir-');
  fs.mkdirSync(path.join(dir, 'sae', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'sae', 'cfg.json'), '{}');
  fs.writeFileSync(path.join(dir, 'sae', 'sub', 'w.bin'), Buffer.alloc(64, 1));
  writeManifest(dir, 'xx_test', {}, ['sae']);
  assert.ok(reusableStage(dir, {}));
  fs.truncateSync(path.join(dir, 'sae', 'sub', 'w.bin'), 10);
  assert.strictEqual(reusableStage(dir, {}), null);
});
