import { test } from 'node:test';
import * as assert from 'assert';
import { FakeHub } from './fake-hub';
import { fetchBytes, fetchJson, hubFileUrl, joinUrl } from '../../lib/hub/http';

const COMMIT = 'a'.repeat(40);

test('hubFileUrl: the hub\'s resolve layout for models and datasets, revision and path segments URL-encoded', () => {
  assert.strictEqual(hubFileUrl('https://huggingface.co/', 'gpt2', 'config.json'), 'https://huggingface.co/gpt2/resolve/main/config.json');
  assert.strictEqual(hubFileUrl('https://hf.co', 'org/name', 'blocks.2/cfg.json', { revision: 'refs/pr/1' }), 'https://hf.co/org/name/resolve/refs%2Fpr%2F1/blocks.2/cfg.json');
  assert.strictEqual(hubFileUrl('http://m/hub', 'org/texts', 'a b.jsonl', { repoType: 'dataset', revision: 'v1' }), 'http://m/hub/datasets/org/texts/resolve/v1/a%20b.jsonl');
  assert.strictEqual(joinUrl('http://h/x/', 'a/b c.json'), 'http://h/x/a/b%20c.json');
});

test('fetchBytes / fetchJson against a loopback hub: files, optional misses, errors naming the URL, token sent but never shown', async () => {
  const token = 'hf_secret_token_123';
  const hub = new FakeHub([
    { type: 'model', id: 'org/tiny', refs: { main: COMMIT }, commits: { [COMMIT]: { 'config.json': Buffer.from('{"n": 1}'), 'w.bin': Buffer.from([1, 2, 3]), 'bad.json': Buffer.from('<html>') } } },
    { type: 'model', id: 'org/gated', refs: { main: COMMIT }, commits: { [COMMIT]: { 'config.json': Buffer.from('{}') } }, gatedToken: 'other' },
  ]);
  const url = await hub.start();
  try {
    assert.deepStrictEqual(await fetchJson(hubFileUrl(url, 'org/tiny', 'config.json')), { n: 1 });
    assert.deepStrictEqual([...new Uint8Array(await fetchBytes(hubFileUrl(url, 'org/tiny', 'w.bin'), { token }))], [1, 2, 3]);
    assert.ok(hub.requests.some((r) => r.url.endsWith('/w.bin') && r.authorization === `Bearer ${token}`));
    assert.strictEqual(await fetchJson(hubFileUrl(url, 'org/tiny', 'missing.json'), { optional: true }), undefined);
    await assert.rejects(fetchBytes(hubFileUrl(url, 'org/tiny', 'missing.json')), new RegExp(`GET ${url}/org/tiny/resolve/main/missing.json failed with HTTP 404: no such file`));
    await assert.rejects(fetchJson(hubFileUrl(url, 'org/tiny', 'bad.json')), /bad\.json: not valid JSON/);
    await assert.rejects(fetchJson(hubFileUrl(url, 'org/gated', 'config.json'), { token }), (e: Error) => /HTTP 401: access denied/.test(e.message) && !e.message.includes(token));
  } finally {
    await hub.stop();
  }
  await assert.rejects(fetchBytes(`${url}/org/tiny/resolve/main/config.json`), /cannot fetch .*is the server up/);
});
