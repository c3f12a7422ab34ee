import { test } from 'node:test';
import * as assert from 'assert';
import { bytesToUnicode, countWords, trainBpe, bpeTokenizerJson } from '../../lib/tokenizers/trainBpe';

test('byte map is GPT-2\'s: printable bytes map to themselves, space to U+0120', () => {
  const m = bytesToUnicode();
  assert.strictEqual(m[65], 'A');
  assert.strictEqual(m[32], '\u0120');
  assert.strictEqual(m[10], '\u010a');
  assert.strictEqual(new Set(m).size, 256);
});

test('BPE merges the most frequent pair first, ties by string order', () => {
  // words: "aaab" x1, "ab" x3 -> pair counts: (a,a)=2, (a,b)=1+3=4 -> first merge "a b"
  const counts = new Map([['aaab', 1], ['ab', 3]]);
  const bpe = trainBpe(counts, { vocabSize: 1 + 256 + 2, minFrequency: 1 });
  assert.deepStrictEqual(bpe.merges[0], 'a b');
  // after it: aaab -> a a ab: pairs (a,a)=1, (a,ab)=1; ab alone. Tie at 1: "a a" < "a ab"
  assert.deepStrictEqual(bpe.merges[1], 'a a');
  assert.strictEqual(bpe.vocab.get('ab'), 257);
  assert.strictEqual(bpe.vocab.get('<|endoftext|>'), 0);
});

test('a trained tokenizer.json loads in @huggingface/tokenizers and round-trips text', async () => {
  const texts = ['the cat sat on the mat. ', 'the dog sat on the log! ', 'function f(x) { return x + 1; }'];
  const bpe = trainBpe(countWords(Array(20).fill(texts).flat()), { vocabSize: 300 });
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tok = new Tokenizer(bpeTokenizerJson(bpe) as never, { bos_token: '<|endoftext|>' } as never);
  const text = 'the cat sat on the log. function g(y) { return y; }<|endoftext|>';
  const ids = tok.encode(text).ids as number[];
  assert.strictEqual(tok.decode(ids), text);
  assert.ok(ids.includes(bpe.vocab.get('Ġthe')!), 'frequent word merged');
  assert.strictEqual(ids[ids.length - 1], 0, 'special token kept whole');
});
