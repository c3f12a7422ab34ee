import { test } from 'node:test';
import * as assert from 'assert';
import { alignByText, charSpans } from '../../lib/analysis';

test('character spans of token pieces', () => {
  assert.deepStrictEqual(Array.from(charSpans(['', 'ab', 'c'])), [0, 0, 0, 2, 2, 3]);
});

test('tokens with identical spans align; split or merged tokens do not (hand example)', () => {
  // "Hello world, olá": base splits "Hello" and "olá" differently from the finetune
  const base = ['', 'Hel', 'lo', ' world', ',', ' ol', 'á'];
  const ft = ['', 'Hello', ' world', ',', ' olá'];
  const al = alignByText(base, ft);
  assert.deepStrictEqual(Array.from(al.baseIndex), [0, 3, 4]); // BOS, " world", ","
  assert.deepStrictEqual(Array.from(al.finetuneIndex), [0, 2, 3]);
  assert.strictEqual(al.aligned, 3);
  assert.strictEqual(al.baseTokens, 7);
  assert.strictEqual(al.finetuneTokens, 5);
  // identical tokenizations align everywhere
  assert.deepStrictEqual(Array.from(alignByText(ft, ft).finetuneIndex), [0, 1, 2, 3, 4]);
  assert.throws(() => alignByText(['ab'], ['ac']), /first difference at character 1/);
});
