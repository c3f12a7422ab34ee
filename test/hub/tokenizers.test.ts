import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadTokenizer, loadTokenizerFromDir, compareTokenizers, compareVocabs, comparisonDataFrame, writeTokenizerComparison, formatComparison, Tokenizer } from '../../lib/tokenizers';
import { setupBackend, tmpDir, REPO_ROOT } from '../helpers';
import { FakeHub } from './fake-hub';
import { writeShippedRepo } from '../../lib/hub';

before(setupBackend);

const GPT2_DIR = path.join(REPO_ROOT, 'data', 'tokenizers', 'gpt2');
const EOT = 50256;
let gpt2: Tokenizer;
before(() => { gpt2 = loadTokenizerFromDir(GPT2_DIR); });

/** A tiny Llama-style tokenizer: WordLevel vocab and a post-processor that adds <s> (id 1) in front. */
function tinyLlamaTokenizer(dir: string, vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, hello: 3, world: 4, sae: 5 }): void {
  const sp = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const seq = (id: string, type_id: number) => ({ Sequence: { id, type_id } });
  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [sp('<unk>'), sp('<s>'), sp('</s>')], normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: { type: 'TemplateProcessing', single: [bos, seq('A', 0)], pair: [bos, seq('A', 0), seq('B', 1)], special_tokens: { '<s>': { id: '<s>', ids: [vocab['<s>']], tokens: ['<s>'] } } },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  }));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: { content: '</s>' }, unk_token: '<unk>', pad_token: null }));
}

test('shipped GPT-2 tokenizer: "Hello world" -> [15496, 995] and NOTES.md\'s longer example', () => {
  assert.deepStrictEqual(gpt2.encode('Hello world'), [15496, 995]);
  assert.deepStrictEqual(gpt2.encode("Hello world, it's a tokenizer test."), [15496, 995, 11, 340, 338, 257, 11241, 7509, 1332, 13]);
  assert.strictEqual(gpt2.vocabSize, 50257);
  assert.strictEqual(gpt2.tokenToId('Hello'), 15496);
  assert.strictEqual(gpt2.idToToken(995), '\u0120world'); // 'Ġworld': GPT-2's byte-level space marker
  assert.deepStrictEqual([gpt2.bosTokenId, gpt2.eosTokenId, gpt2.padTokenId, gpt2.hasOwnPadToken], [EOT, EOT, EOT, false]);
});

test('GPT-2 ids match the independent gpt-3-encoder reference (tools/gpt2-reference-ids.js) and decode back', () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'gpt2-reference-ids.json'), 'utf8')) as { cases: Array<{ text: string; ids: number[] }> };
  assert.ok(fixture.cases.length >= 10);
  for (const { text, ids } of fixture.cases) {
    assert.deepStrictEqual(gpt2.encode(text), ids, JSON.stringify(text));
    assert.strictEqual(gpt2.decode(ids), text);
  }
  // <|endoftext|> written in text stays one special token
  assert.deepStrictEqual(gpt2.encode('<|endoftext|>Hello world'), [EOT, 15496, 995]);
  assert.strictEqual(gpt2.decode([EOT, 15496], { skipSpecialTokens: true }), 'Hello');
});

test('TransformerLens to_tokens semantics: prepend_bos, right/left padding with eos as pad, maxLength', () => {
  assert.deepStrictEqual(gpt2.toTokens('Hello world').tokens, [[EOT, 15496, 995]]);
  assert.deepStrictEqual(gpt2.toTokens('Hello world', { prependBos: false }).tokens, [[15496, 995]]);
  const b = gpt2.toTokens(['Hello world', 'Hello']);
  assert.deepStrictEqual(b.tokens, [[EOT, 15496, 995], [EOT, 15496, EOT]]);
  assert.deepStrictEqual(b.attentionMask, [[1, 1, 1], [1, 1, 0]]);
  assert.deepStrictEqual(gpt2.toTokens(['Hello world', 'Hello'], { paddingSide: 'left' }).tokens, [[EOT, 15496, 995], [EOT, EOT, 15496]]);
  assert.deepStrictEqual(gpt2.toTokens(['Hello world'], { maxLength: 2 }).tokens, [[EOT, 15496]]);
  assert.throws(() => gpt2.toTokens(['Hello world', 'Hello'], { padding: false }), /pass padding: true/);
  const t = gpt2.toTokensTensor(['Hello world', 'Hello']);
  assert.deepStrictEqual([t.dtype, t.shape], ['int32', [2, 3]]);
  assert.deepStrictEqual([...t.dataSync()], [EOT, 15496, 995, EOT, 15496, EOT]);
  t.dispose();
  assert.deepStrictEqual(gpt2.toStrTokens('Hello world'), ['<|endoftext|>', 'Hello', ' world']);
});

test('a tokenizer whose post-processor adds BOS: encode adds it once, toTokens never doubles it', () => {
  const dir = path.join(tmpDir(), 'tiny');
  tinyLlamaTokenizer(dir);
  const tok = loadTokenizerFromDir(dir);
  assert.deepStrictEqual(tok.encode('hello world sae zzz'), [1, 3, 4, 5, 0]);
  assert.deepStrictEqual(tok.encodeRaw('hello world'), [3, 4]);
  assert.deepStrictEqual([tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId], [1, 2, 0, 2]);
  assert.deepStrictEqual(tok.toTokens('hello world').tokens, [[1, 3, 4]]);
  assert.deepStrictEqual(tok.toTokens('hello world', { prependBos: false }).tokens, [[3, 4]]);
});

test('compareTokenizers: counts as REFERENCE section 2 defines, DataFrame and log/CSV files', () => {
  // base: a0 b1 c2 d3 e4; ft: a0 b1 c3 x2 y4 z5 -> only_in_base {d, e}, only_in_ft {x, y, z}, mismatched {c}
  const base = new Map([['a', 0], ['b', 1], ['c', 2], ['d', 3], ['e', 4]]);
  const ft = new Map([['a', 0], ['b', 1], ['c', 3], ['x', 2], ['y', 4], ['z', 5]]);
  const c = compareVocabs(base, ft);
  assert.deepStrictEqual([c.base_vocab_size, c.ft_vocab_size, c.only_in_base, c.only_in_ft, c.mismatched, c.good_base, c.good_ft], [5, 6, 2, 3, 1, 2, 2]);
  assert.strictEqual(c.good_base_pct, 40);
  assert.ok(Math.abs(c.good_ft_pct - 100 * 2 / 6) < 1e-12);
  assert.deepStrictEqual(c.examples.mismatched, [{ token: 'c', base_id: 2, ft_id: 3 }]);
  assert.deepStrictEqual(c.examples.only_in_ft, ['x', 'y', 'z']);

  const same = compareTokenizers(gpt2, gpt2);
  assert.deepStrictEqual([same.only_in_base, same.only_in_ft, same.mismatched, same.good_base_pct], [0, 0, 0, 100]);

  const dir = tmpDir();
  tinyLlamaTokenizer(path.join(dir, 'a'));
  tinyLlamaTokenizer(path.join(dir, 'b'), { '<unk>': 0, '<s>': 1, '</s>': 2, hello: 4, world: 3, olá: 5 });
  const cab = compareTokenizers(loadTokenizerFromDir(path.join(dir, 'a')), loadTokenizerFromDir(path.join(dir, 'b')));
  assert.deepStrictEqual([cab.only_in_base, cab.only_in_ft, cab.mismatched, cab.good_base, cab.good_ft], [1, 1, 2, 3, 3]);
  const df = comparisonDataFrame(cab, { base: 'a', finetune: 'b' });
  assert.deepStrictEqual(df.columns, ['tokenizer', 'vocab_size', 'only_in', 'mismatched', 'good', 'good_pct']);
  assert.deepStrictEqual(df.values, [['a', 6, 1, 2, 3, 50], ['b', 6, 1, 2, 3, 50]]);
  const files = writeTokenizerComparison(path.join(dir, 'out', 'tokenizers'), cab, { base: 'a', finetune: 'b' });
  assert.strictEqual(fs.readFileSync(files[0], 'utf8'), 'tokenizer,vocab_size,only_in,mismatched,good,good_pct\na,6,1,2,3,50\nb,6,1,2,3,50\n');
  assert.match(fs.readFileSync(files[1], 'utf8'), /mismatched \(first 2\): "hello" 3->4, "world" 4->3/);
  assert.strictEqual(JSON.parse(fs.readFileSync(files[2], 'utf8')).good_ft, 3);
  assert.match(formatComparison(cab), /only in finetune \(first 1\): \["olá"\]/);
});

test('loadTokenizer: shipped gpt2 with empty caches, and a hub repo through the loopback hub', async () => {
  const empty = tmpDir();
  const t = await loadTokenizer('gpt2', { cacheDir: empty, shippedCacheDirs: [], offline: true });
  assert.deepStrictEqual(t.encode('Hello world'), [15496, 995]);

  const src = path.join(tmpDir(), 'tok');
  tinyLlamaTokenizer(src);
  const commit = 'c'.repeat(40);
  const hub = new FakeHub([{ type: 'model', id: 'org/tiny-llama', refs: { main: commit }, commits: { [commit]: {
    'tokenizer.json': fs.readFileSync(path.join(src, 'tokenizer.json')), 'tokenizer_config.json': fs.readFileSync(path.join(src, 'tokenizer_config.json')),
    'model.safetensors': Buffer.from('not needed'),
  } } }]);
  const endpoint = await hub.start();
  try {
    const tok = await loadTokenizer('org/tiny-llama', { cacheDir: empty, endpoint, shippedCacheDirs: [] });
    assert.deepStrictEqual(tok.encode('hello sae'), [1, 3, 5]);
    const snap = path.join(empty, 'models--org--tiny-llama', 'snapshots', commit);
    assert.deepStrictEqual(fs.readdirSync(snap).sort(), ['tokenizer.json', 'tokenizer_config.json']);
  } finally {
    await hub.stop();
  }
  await assert.rejects(loadTokenizer(tmpDir() + '/missing-dir', {}), /does not exist/);
  // a shipped hub-cache repo with tokenizer.json alone (no tokenizer_config.json) resolves offline
  const shipped = tmpDir();
  await writeShippedRepo(shipped, 'saelab/demo-tok', 'step500', { 'tokenizer.json': path.join(src, 'tokenizer.json') });
  const demo = await loadTokenizer('saelab/demo-tok', { revision: 'step500', cacheDir: empty, shippedCacheDirs: [shipped], offline: true });
  assert.deepStrictEqual(demo.encode('world'), [1, 4]);
  assert.strictEqual(demo.bosTokenId, undefined); // no tokenizer_config.json: no named BOS
  assert.throws(() => demo.toTokens('world'), /has no bos_token/);
});
