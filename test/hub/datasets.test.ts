import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { concatAndBatchSequences, tokenizeAndConcatenate, textsFromFile, textsFromDataset, shuffleStream, batched, stackContexts, ContextPacker } from '../../lib/data';
import { loadTokenizerFromDir } from '../../lib/tokenizers';
import { tmpDir, REPO_ROOT } from '../helpers';
import { FakeHub } from './fake-hub';

const PARQUET = path.join(REPO_ROOT, 'test', 'fixtures', 'texts.parquet');
/** the texts tools/make-parquet-fixture.mjs wrote, row i */
const parquetText = (i: number) => `Document ${i}: ${'word '.repeat(i % 7)}end.`;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
const arrays = (cs: Iterable<Int32Array>) => [...cs].map((c) => [...c]);

test('packing follows SAELens: BOS per context, separator between documents, no doubled specials, tail dropped', () => {
  // worked by hand: ctx 5, BOS 0 starts each context and separates documents
  const docs = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]];
  assert.deepStrictEqual(arrays(concatAndBatchSequences(docs, { contextSize: 5, beginBatchTokenId: 0, sequenceSeparatorTokenId: 0 })),
    [[0, 1, 2, 3, 0], [0, 4, 5, 6, 7], [0, 8, 9, 0, 10]]);
  // no specials: plain concatenation, the unfilled tail [11] is dropped
  assert.deepStrictEqual(arrays(concatAndBatchSequences([...docs, [11]], { contextSize: 5 })), [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
  // a document that already starts with BOS does not get a second one
  assert.deepStrictEqual(arrays(concatAndBatchSequences([[0, 1, 2, 3, 4, 5]], { contextSize: 3, beginBatchTokenId: 0 })), [[0, 1, 2], [0, 3, 4]]);
  // begin-of-sequence token on every document, after the context's BOS
  assert.deepStrictEqual(arrays(concatAndBatchSequences([[1, 2], [3, 4, 5]], { contextSize: 4, beginBatchTokenId: 0, beginSequenceTokenId: 99 })),
    [[0, 99, 1, 2], [0, 99, 3, 4]]);
  // a document ending exactly at a context boundary: the next context starts with BOS, no separator
  assert.deepStrictEqual(arrays(concatAndBatchSequences([[1, 2, 3], [4, 5, 6]], { contextSize: 4, beginBatchTokenId: 0, sequenceSeparatorTokenId: 50 })),
    [[0, 1, 2, 3], [0, 4, 5, 6]]);
  // no concatenation: one context per long-enough document
  assert.deepStrictEqual(arrays(concatAndBatchSequences([[1, 2, 3, 4, 5], [1, 2], [0, 7, 8, 9]], { contextSize: 4, beginBatchTokenId: 0, disableConcatSequences: true })),
    [[0, 1, 2, 3], [0, 7, 8, 9]]);
  assert.throws(() => new ContextPacker({ contextSize: 0 }), /contextSize must be a positive integer/);
});

test('tokenizeAndConcatenate tokenizes without specials and packs lazily', async () => {
  const gpt2 = loadTokenizerFromDir(path.join(REPO_ROOT, 'data', 'tokenizers', 'gpt2'));
  // "Hello world" = [15496, 995]; BOS/separator = <|endoftext|> 50256
  const ctxs = await collect(tokenizeAndConcatenate(['Hello world', 'Hello world', 'Hello world'], gpt2, { contextSize: 4 }));
  assert.deepStrictEqual(arrays(ctxs), [[50256, 15496, 995, 50256], [50256, 15496, 995, 50256]]);
  const noBos = await collect(tokenizeAndConcatenate(['Hello world', 'Hello world'], gpt2, { contextSize: 2, prependBos: false, separator: null }));
  assert.deepStrictEqual(arrays(noBos), [[15496, 995], [15496, 995]]);
  // lazy: one context needs only the first two documents of an endless stream
  let pulled = 0;
  function* endless() { for (;;) { pulled++; yield 'Hello world'; } }
  const first = await collect(tokenizeAndConcatenate(endless(), gpt2, { contextSize: 5, maxContexts: 1 }));
  assert.deepStrictEqual(arrays(first), [[50256, 15496, 995, 50256, 15496]]);
  assert.strictEqual(pulled, 2);
  const rows = await collect(batched(tokenizeAndConcatenate(['Hello world', 'Hello world', 'Hello world'], gpt2, { contextSize: 4 }), 2));
  assert.strictEqual(rows.length, 1);
  assert.deepStrictEqual([...stackContexts(rows[0])], [50256, 15496, 995, 50256, 50256, 15496, 995, 50256]);
});

test('local files stream documents: jsonl (field), txt (lines), parquet (row groups, independent writer)', async () => {
  const dir = tmpDir();
  const jsonl = path.join(dir, 'a.jsonl');
  fs.writeFileSync(jsonl, '{"text": "first", "n": 1}\n\n{"text": "second\\nline"}\r\n{"body": "x"}\n');
  await assert.rejects(collect(textsFromFile(jsonl)), /a\.jsonl:4: field 'text' is missing \(fields: body\)/);
  fs.writeFileSync(jsonl, '{"text": "first", "n": 1}\n\n{"text": "second\\nline"}\r\n');
  assert.deepStrictEqual(await collect(textsFromFile(jsonl)), ['first', 'second\nline']);
  fs.writeFileSync(path.join(dir, 'a.jsonl.gz'), zlib.gzipSync('{"text": "zipped"}\n{"text": "too"}\n'));
  assert.deepStrictEqual(await collect(textsFromFile(path.join(dir, 'a.jsonl.gz'))), ['zipped', 'too']);
  fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"text": "ok"}\n{oops\n');
  await assert.rejects(collect(textsFromFile(path.join(dir, 'bad.jsonl'))), /bad\.jsonl:2: not valid JSON/);
  fs.writeFileSync(path.join(dir, 'b.txt'), 'one\ntwo\n\nthree');
  assert.deepStrictEqual(await collect(textsFromFile(path.join(dir, 'b.txt'))), ['one', 'two', 'three']);
  assert.deepStrictEqual(await collect(textsFromFile(path.join(dir, 'b.txt'), { txtMode: 'file' })), ['one\ntwo\n\nthree']);
  assert.deepStrictEqual(await collect(textsFromFile(PARQUET)), Array.from({ length: 25 }, (_, i) => parquetText(i)));
  await assert.rejects(collect(textsFromFile(PARQUET, { column: 'body' })), /no column 'body' \(columns: id, text\)/);
  await assert.rejects(collect(textsFromFile(path.join(dir, 'x.csv'))), /does not exist/);
});

test('hub datasets: the split\'s files are downloaded and streamed; other splits are not fetched', async () => {
  const commit = 'd'.repeat(40);
  const hub = new FakeHub([{ type: 'dataset', id: 'org/pile-mini', refs: { main: commit }, commits: { [commit]: {
    'README.md': Buffer.from('# card'),
    'data/train-00000-of-00001.parquet': fs.readFileSync(PARQUET),
    'data/test.jsonl': Buffer.from('{"text": "held out"}\n'),
  } } }]);
  const endpoint = await hub.start();
  const cache = tmpDir();
  try {
    const train = await collect(textsFromDataset('org/pile-mini', { endpoint, cacheDir: cache, shippedCacheDirs: [] }));
    assert.deepStrictEqual(train, Array.from({ length: 25 }, (_, i) => parquetText(i)));
    const snap = path.join(cache, 'datasets--org--pile-mini', 'snapshots', commit);
    assert.deepStrictEqual(fs.readdirSync(path.join(snap, 'data')), ['train-00000-of-00001.parquet']);
    const test = await collect(textsFromDataset('org/pile-mini', { split: 'test', endpoint, cacheDir: cache, shippedCacheDirs: [] }));
    assert.deepStrictEqual(test, ['held out']);
    // cached now: works offline
    const again = await collect(textsFromDataset('org/pile-mini', { split: 'test', cacheDir: cache, shippedCacheDirs: [], offline: true }));
    assert.deepStrictEqual(again, ['held out']);
  } finally {
    await hub.stop();
  }
});

test('seeded shuffling is a deterministic permutation with a bounded buffer', async () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const a = await collect(shuffleStream(items, { bufferSize: 10, seed: 7 }));
  const b = await collect(shuffleStream(items, { bufferSize: 10, seed: 7 }));
  const c = await collect(shuffleStream(items, { bufferSize: 10, seed: 8 }));
  assert.deepStrictEqual(a, b);
  assert.notDeepStrictEqual(a, c);
  assert.deepStrictEqual([...a].sort((x, y) => x - y), items);
  assert.notDeepStrictEqual(a, items);
  // with a buffer of 10, the k-th output comes from the first k + 10 inputs
  a.forEach((x, k) => assert.ok(x < k + 10, `output ${k} = ${x}`));
  // and the source is pulled only as far as needed
  let pulled = 0;
  async function* source() { for (let i = 0; i < 1000; i++) { pulled++; yield i; } }
  for await (const _ of shuffleStream(source(), { bufferSize: 10, seed: 'pile' })) break;
  assert.strictEqual(pulled, 11);
});
