import { test, before, after, beforeEach } from 'node:test';
import * as assert from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { resolveRepo, resolveFile, writeShippedRepo, findCachedSnapshot, globToRegExp } from '../../lib/hub';
import { tmpDir as baseTmp } from '../helpers';
import { FakeHub, FakeRepo, sha256, gitBlobSha1, OLDER_COMMIT } from './fake-hub';

const MAIN = 'a'.repeat(40);
const STEP = 'b'.repeat(40);
const TOKEN = 'hf_loopbackSecretToken123';
const weights = crypto.randomBytes(3000); // stands in for a safetensors file (LFS, sha256 etag)

const tiny: FakeRepo = {
  type: 'model', id: 'org/tiny', refs: { main: MAIN, step500: STEP },
  commits: {
    [MAIN]: { 'config.json': Buffer.from('{"n_layers": 2}'), 'model.safetensors': weights, 'sub/notes.txt': Buffer.from('hi') },
    [STEP]: { 'config.json': Buffer.from('{"n_layers": 2, "step": 500}'), 'model.safetensors': Buffer.from('older weights') },
  },
};
const gated: FakeRepo = { type: 'model', id: 'gated-model', refs: { main: MAIN }, commits: { [MAIN]: { 'config.json': Buffer.from('{}') } }, gatedToken: TOKEN };
const dataset: FakeRepo = { type: 'dataset', id: 'org/texts', refs: { main: STEP }, commits: { [STEP]: { 'data/train.jsonl': Buffer.from('{"text": "a"}\n') } } };

const root = baseTmp('saelab-hubtest-');
let counter = 0;
function tmpDir(prefix = 't'): string {
  const d = path.join(root, `${prefix}${counter++}`);
  fs.mkdirSync(d);
  return d;
}

const hub = new FakeHub([tiny, gated, dataset]);
let endpoint = '';
let cache = '';
const emptyShipped = [tmpDir('saelab-shipped-empty-')];
const envKeys = ['HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HF_HOME', 'HF_TOKEN_PATH'];
const savedEnv: Record<string, string | undefined> = {};

before(async () => {
  endpoint = await hub.start();
  for (const k of envKeys) { savedEnv[k] = process.env[k]; delete process.env[k]; }
  process.env.HF_TOKEN_PATH = path.join(tmpDir(), 'no-token');
});
after(async () => {
  await hub.stop();
  for (const k of envKeys) { if (savedEnv[k] === undefined) delete process.env[k]; else process.env[k] = savedEnv[k]; }
});
beforeEach(() => {
  cache = tmpDir('saelab-hfcache-');
  hub.requests.length = 0;
});

test('downloads into the Python cache layout under the head commit, then serves from cache without requests', async () => {
  const r = await resolveRepo('org/tiny', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  const storage = path.join(cache, 'models--org--tiny');
  assert.strictEqual(r.commit, MAIN);
  assert.strictEqual(r.source, 'download');
  assert.strictEqual(r.dir, path.join(storage, 'snapshots', MAIN));
  assert.strictEqual(fs.readFileSync(path.join(storage, 'refs', 'main'), 'utf8'), MAIN);
  assert.ok(!fs.existsSync(path.join(storage, 'snapshots', OLDER_COMMIT)), 'not under the last-changing commit');
  // LFS blobs are named by sha256, regular files by git blob sha1; snapshot entries link to them
  const w = path.join(r.dir, 'model.safetensors');
  assert.ok(fs.lstatSync(w).isSymbolicLink());
  assert.strictEqual(fs.realpathSync(w), fs.realpathSync(path.join(storage, 'blobs', sha256(weights))));
  assert.strictEqual(fs.realpathSync(path.join(r.dir, 'config.json')), fs.realpathSync(path.join(storage, 'blobs', gitBlobSha1(Buffer.from('{"n_layers": 2}')))));
  assert.deepStrictEqual(fs.readFileSync(w), weights);
  assert.strictEqual(fs.readFileSync(path.join(r.dir, 'sub/notes.txt'), 'utf8'), 'hi');
  assert.ok(hub.requests.some((q) => q.url.startsWith('/api/models/org/tiny/revision/main')));
  assert.ok(hub.requests.some((q) => q.url.startsWith(`/org/tiny/resolve/${MAIN}/model.safetensors`)));

  hub.requests.length = 0;
  const again = await resolveRepo('org/tiny', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.strictEqual(again.source, 'cache');
  assert.strictEqual(again.dir, r.dir);
  assert.strictEqual(hub.requests.length, 0);
});

test('a revision other than main resolves to its own commit; HF_ENDPOINT picks the hub', async () => {
  process.env.HF_ENDPOINT = endpoint + '/';
  try {
    const r = await resolveRepo('org/tiny', { revision: 'step500', cacheDir: cache, shippedCacheDirs: emptyShipped });
    assert.strictEqual(r.commit, STEP);
    assert.strictEqual(fs.readFileSync(path.join(r.dir, 'config.json'), 'utf8'), '{"n_layers": 2, "step": 500}');
    assert.strictEqual(fs.readFileSync(path.join(cache, 'models--org--tiny', 'refs', 'step500'), 'utf8'), STEP);
    // a commit hash as revision finds the snapshot directly
    const byCommit = await resolveRepo('org/tiny', { revision: STEP, cacheDir: cache, shippedCacheDirs: emptyShipped });
    assert.strictEqual(byCommit.source, 'cache');
    assert.strictEqual(byCommit.dir, r.dir);
  } finally {
    delete process.env.HF_ENDPOINT;
  }
});

test('file patterns download only matching files; resolveFile returns a path', async () => {
  const r = await resolveRepo('org/tiny', { files: ['*.json'], cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.deepStrictEqual(fs.readdirSync(r.dir), ['config.json']);
  const p = await resolveFile('org/tiny', 'model.safetensors', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.deepStrictEqual(fs.readFileSync(p), weights);
  await assert.rejects(resolveRepo('org/tiny', { files: ['nope.bin'], cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped }), /has no file 'nope\.bin'/);
  await assert.rejects(resolveRepo('org/tiny', { files: ['*.bin'], cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped }), /has no file matching '\*\.bin'/);
  // optional files are fetched when present and never required
  const o = await resolveRepo('org/tiny', { revision: 'step500', files: ['config.json'], optionalFiles: ['tokenizer.json', '*.txt'], cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.deepStrictEqual(fs.readdirSync(o.dir), ['config.json']);
  // a cached snapshot counts only when every required glob matches: '*.txt' is not cached yet, so it is fetched
  hub.requests.length = 0;
  const t = await resolveRepo('org/tiny', { files: ['*.json', 'sub/*.txt'], cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.strictEqual(t.source, 'download');
  assert.strictEqual(fs.readFileSync(path.join(t.dir, 'sub/notes.txt'), 'utf8'), 'hi');
  const t2 = await resolveRepo('org/tiny', { files: ['*.json', 'sub/*.txt'], cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.strictEqual(t2.source, 'cache');
  assert.ok(globToRegExp('model-*.safetensors').test('model-00001-of-00002.safetensors'));
  assert.ok(!globToRegExp('*.json').test('model.safetensors'));
});

test('dataset repos use the datasets-- folder and /datasets/ routes', async () => {
  const r = await resolveRepo('org/texts', { repoType: 'dataset', cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.strictEqual(r.dir, path.join(cache, 'datasets--org--texts', 'snapshots', STEP));
  assert.strictEqual(fs.readFileSync(path.join(r.dir, 'data/train.jsonl'), 'utf8'), '{"text": "a"}\n');
  assert.ok(hub.requests.some((q) => q.url.startsWith(`/datasets/org/texts/resolve/${STEP}/data/train.jsonl`)));
});

test('a gated repo gives a clear 401 error; HF_TOKEN is sent as Authorization and never printed', async () => {
  await assert.rejects(resolveRepo('gated-model', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped }),
    (e: Error) => /access to gated-model denied \(HTTP 401\)/.test(e.message) && /gated or private/.test(e.message) && /HF_TOKEN/.test(e.message));

  const printed: string[] = [];
  const orig = { log: console.log, error: console.error, warn: console.warn, debug: console.debug, info: console.info };
  for (const k of Object.keys(orig) as Array<keyof typeof orig>) console[k] = (...a: unknown[]) => { printed.push(a.map(String).join(' ')); };
  const origWrite = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => { printed.push(String(chunk)); return true; }) as typeof process.stderr.write;
  process.env.HF_TOKEN = 'hf_wrongTokenValue999';
  let wrongMsg = '';
  try {
    await resolveRepo('gated-model', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped }).catch((e: Error) => { wrongMsg = e.message + String(e.stack); });
    process.env.HF_TOKEN = TOKEN;
    const r = await resolveRepo('gated-model', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
    assert.strictEqual(fs.readFileSync(path.join(r.dir, 'config.json'), 'utf8'), '{}');
  } finally {
    delete process.env.HF_TOKEN;
    Object.assign(console, orig);
    process.stderr.write = origWrite;
  }
  assert.match(wrongMsg, /HF_TOKEN was sent but not accepted/);
  assert.ok(!wrongMsg.includes('hf_wrongTokenValue999'), 'token not in the error');
  assert.ok(!printed.join('\n').includes(TOKEN) && !printed.join('\n').includes('hf_wrongTokenValue999'), 'token never printed');
  assert.ok(hub.requests.some((q) => q.authorization === `Bearer ${TOKEN}` && q.url.includes('/resolve/')));
  assert.ok(!fs.readdirSync(cache, { recursive: true }).some((f) => fs.statSync(path.join(cache, String(f))).isFile() && fs.readFileSync(path.join(cache, String(f)), 'utf8').includes(TOKEN)), 'token not written to the cache');
});

test('an interrupted download leaves nothing a later run takes for complete; a retry completes it', async () => {
  hub.truncateNext.add('model.safetensors');
  await assert.rejects(resolveRepo('org/tiny', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped }), /downloading model\.safetensors from org\/tiny@main failed .*run again to retry/);
  const storage = path.join(cache, 'models--org--tiny');
  assert.ok(!fs.existsSync(path.join(storage, 'snapshots', MAIN, 'model.safetensors')), 'no snapshot entry');
  assert.ok(!fs.existsSync(path.join(storage, 'blobs', sha256(weights))), 'no finished blob');
  assert.ok(!fs.existsSync(path.join(storage, 'refs', 'main')), 'ref written only after every file');
  assert.strictEqual(findCachedSnapshot(cache, 'org/tiny', 'model', 'main', ['model.safetensors']), undefined);
  process.env.HF_HUB_OFFLINE = '1';
  try {
    await assert.rejects(resolveRepo('org/tiny', { cacheDir: cache, files: ['model.safetensors'], shippedCacheDirs: emptyShipped }), /HF_HUB_OFFLINE/);
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  const r = await resolveRepo('org/tiny', { cacheDir: cache, endpoint, shippedCacheDirs: emptyShipped });
  assert.deepStrictEqual(fs.readFileSync(path.join(r.dir, 'model.safetensors')), weights);
});

test('HF_HUB_OFFLINE makes no requests; HF_HUB_CACHE is the default cache', async () => {
  process.env.HF_HUB_OFFLINE = '1';
  process.env.HF_HUB_CACHE = cache;
  try {
    await assert.rejects(resolveRepo('org/tiny', { endpoint, shippedCacheDirs: emptyShipped }), /not in the hub cache .* HF_HUB_OFFLINE is set/);
    assert.strictEqual(hub.requests.length, 0);
    delete process.env.HF_HUB_OFFLINE;
    const r = await resolveRepo('org/tiny', { endpoint, shippedCacheDirs: emptyShipped, files: ['config.json'] });
    assert.ok(r.dir.startsWith(cache));
  } finally {
    delete process.env.HF_HUB_OFFLINE;
    delete process.env.HF_HUB_CACHE;
  }
});

test('a shipped cache written by writeShippedRepo resolves offline through the same path; user cache comes first', async () => {
  const shipped = tmpDir('saelab-shipped-');
  const src = path.join(tmpDir(), 'w.bin');
  fs.writeFileSync(src, 'W');
  const a = await writeShippedRepo(shipped, 'saelab/demo-base', 'step500', { 'config.json': Buffer.from('{"a":1}'), 'model.safetensors': src });
  const b = await writeShippedRepo(shipped, 'saelab/demo-base', 'again', { 'model.safetensors': src, 'config.json': Buffer.from('{"a":1}') });
  const c = await writeShippedRepo(shipped, 'saelab/demo-base', 'main', { 'config.json': Buffer.from('{"a":2}'), 'model.safetensors': src });
  assert.strictEqual(a.commit, b.commit, 'same contents, same commit');
  assert.notStrictEqual(a.commit, c.commit);
  assert.match(a.commit, /^[0-9a-f]{40}$/);
  const storage = path.join(shipped, 'models--saelab--demo-base');
  assert.strictEqual(fs.readFileSync(path.join(storage, 'refs', 'step500'), 'utf8'), a.commit);
  assert.ok(fs.lstatSync(path.join(storage, 'snapshots', a.commit, 'model.safetensors')).isFile());

  process.env.HF_HUB_OFFLINE = '1';
  try {
    const r = await resolveRepo('saelab/demo-base', { revision: 'step500', cacheDir: cache, shippedCacheDirs: [shipped] });
    assert.deepStrictEqual({ dir: r.dir, commit: r.commit, source: r.source }, { dir: path.join(storage, 'snapshots', a.commit), commit: a.commit, source: 'shipped' });
    // the user's cache wins over the shipped one
    await writeShippedRepo(cache, 'saelab/demo-base', 'step500', { 'config.json': Buffer.from('{"user":1}') });
    const u = await resolveRepo('saelab/demo-base', { revision: 'step500', cacheDir: cache, shippedCacheDirs: [shipped] });
    assert.strictEqual(u.source, 'cache');
    assert.strictEqual(fs.readFileSync(path.join(u.dir, 'config.json'), 'utf8'), '{"user":1}');
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  assert.strictEqual(hub.requests.length, 0);
});

test('a local folder is returned as is; a missing path is a clear error', async () => {
  const dir = tmpDir();
  const r = await resolveRepo(dir);
  assert.deepStrictEqual(r, { dir, commit: '', revision: 'local', source: 'local' });
  await assert.rejects(resolveRepo('./no/such/folder'), /local folder '\.\/no\/such\/folder' does not exist/);
});

test('a cache written by Python huggingface_hub (relative blob links, refs, .no_exist) is read as is, offline', async () => {
  const storage = path.join(cache, 'models--EleutherAI--pythia-70m-deduped');
  const commit = 'f'.repeat(40);
  const blob = '1234abcd'.repeat(8);
  fs.mkdirSync(path.join(storage, 'blobs'), { recursive: true });
  fs.mkdirSync(path.join(storage, 'snapshots', commit), { recursive: true });
  fs.mkdirSync(path.join(storage, 'refs'), { recursive: true });
  fs.mkdirSync(path.join(storage, '.no_exist', commit), { recursive: true });
  fs.writeFileSync(path.join(storage, 'blobs', blob), '{"model_type": "gpt_neox"}');
  fs.symlinkSync(`../../blobs/${blob}`, path.join(storage, 'snapshots', commit, 'config.json'));
  fs.writeFileSync(path.join(storage, 'refs', 'step3000'), commit);
  const r = await resolveRepo('EleutherAI/pythia-70m-deduped', { revision: 'step3000', files: ['config.json'], cacheDir: cache, shippedCacheDirs: emptyShipped, offline: true });
  assert.strictEqual(r.commit, commit);
  assert.strictEqual(fs.readFileSync(path.join(r.dir, 'config.json'), 'utf8'), '{"model_type": "gpt_neox"}');
  // a link whose blob is gone does not count as cached
  fs.rmSync(path.join(storage, 'blobs', blob));
  await assert.rejects(resolveRepo('EleutherAI/pythia-70m-deduped', { revision: 'step3000', files: ['config.json'], cacheDir: cache, shippedCacheDirs: emptyShipped, offline: true }), /HF_HUB_OFFLINE/);
  assert.strictEqual(hub.requests.length, 0);
});
