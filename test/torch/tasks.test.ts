import { test, before } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { CASE3_VOCAB, case3Accuracy, case3Decode, case3Encode, case3Inputs, case3Labels, case3Mse, case3Tokenizer } from '../../lib/tasks';
import { assertClose, setupBackend } from '../helpers';

before(setupBackend);

test('case 3 inputs: 320 sequences, 64 of length 3 then 256 of length 4, base-4 order over a<b<c<x', () => {
  const inputs = case3Inputs();
  assert.strictEqual(inputs.length, 320);
  // the first four and last three, as printed by InterpBench's gen_all_data / map_tracr_input_to_tl_input in the seed
  assert.deepStrictEqual(inputs.slice(0, 4).map(case3Decode), [
    ['BOS', 'a', 'a', 'a', 'PAD'], ['BOS', 'a', 'a', 'b', 'PAD'], ['BOS', 'a', 'a', 'c', 'PAD'], ['BOS', 'a', 'a', 'x', 'PAD']]);
  assert.deepStrictEqual(inputs.slice(0, 4), [[0, 2, 2, 2, 1], [0, 2, 2, 3, 1], [0, 2, 2, 4, 1], [0, 2, 2, 5, 1]]);
  assert.deepStrictEqual(inputs.slice(-3), [[0, 5, 5, 5, 3], [0, 5, 5, 5, 4], [0, 5, 5, 5, 5]]);
  assert.deepStrictEqual(inputs[63], [0, 5, 5, 5, 1]);
  assert.deepStrictEqual(inputs[64], [0, 2, 2, 2, 2]);
  // index 64 + 27 = 64 + (0,1,2,3 in base 4) -> a b c x
  assert.deepStrictEqual(case3Decode(inputs[64 + 27]), ['BOS', 'a', 'b', 'c', 'x']);
  assert.strictEqual(new Set(inputs.map((s) => s.join())).size, 320, 'all distinct');
  assert.ok(inputs.slice(0, 64).every((s) => s[4] === CASE3_VOCAB.PAD));
});

test('case 3 labels: running fraction of x at positions >= 1, masked at BOS and PAD', () => {
  const { labels, mask, shape } = case3Labels([[0, 2, 2, 5, 1], [0, 5, 2, 5, 5]]);
  assert.deepStrictEqual(shape, [2, 5]);
  // the seed's output_data for [BOS a a x PAD]: [BOS, 0, 0, 1/3, PAD]
  assertClose(labels.slice(0, 5), [0, 0, 0, 1 / 3, 0], 1e-7, 0);
  assert.deepStrictEqual([...mask.slice(0, 5)], [0, 1, 1, 1, 0]);
  assertClose(labels.slice(5), [0, 1, 1 / 2, 2 / 3, 3 / 4], 1e-7, 0);
  assert.deepStrictEqual([...mask.slice(5)], [0, 1, 1, 1, 1]);
  const all = case3Labels(case3Inputs());
  assert.strictEqual(all.mask.reduce((a, b) => a + b, 0), 64 * 3 + 256 * 4);
});

test('case 3 accuracy counts predictions within 0.05 at readout positions only', async () => {
  const tokens = [[0, 2, 2, 5, 1], [0, 5, 2, 5, 5]];
  // logits [2, 5, 1]: sequence 0 exact except pos 3 off by 0.06 (wrong); PAD/BOS garbage ignored;
  // sequence 1 off by 0.04 everywhere (right)
  const preds = [[9, 0, 0, 1 / 3 + 0.06, -7], [9, 1.04, 0.46, 2 / 3 + 0.04, 0.75 - 0.04]];
  const logits = tf.tensor3d(preds.map((s) => s.map((v) => [v])));
  const acc = await case3Accuracy(logits, tokens);
  assert.strictEqual(acc.total, 7);
  assert.strictEqual(acc.correct, 6);
  assert.ok(Math.abs(acc.accuracy - 6 / 7) < 1e-9);
  assert.ok(Math.abs(acc.maxError - 0.06) < 1e-6);
  const { labels, mask, shape } = case3Labels(tokens);
  const mse = case3Mse(logits, tf.tensor2d(labels, shape), tf.tensor2d(mask, shape));
  assert.ok(Math.abs((await mse.data())[0] - (0.06 ** 2 + 4 * 0.04 ** 2) / 7) < 1e-6);
  logits.dispose();
  mse.dispose();
});

test('case 3 tokenizer: word-level over BOS PAD a b c x, UNK -> 1', () => {
  const tok = case3Tokenizer();
  assert.deepStrictEqual(tok.encode('BOS a b c x'), [0, 2, 3, 4, 5]);
  assert.strictEqual(tok.decode([0, 2, 3, 4, 5]), 'BOS a b c x');
  assert.deepStrictEqual(case3Encode(['UNK', 'PAD']), [1, 1]);
  assert.throws(() => case3Encode('a z'), /unknown token 'z'/);
});
