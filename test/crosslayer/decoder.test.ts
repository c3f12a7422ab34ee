import { before, it } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { decoderCosinePairs } from '../../lib/analysis/crosslayer';
import { denseDecoderCosine } from './dense-reference';
import { assertStatEqual, nnz, rng, statToDense } from './util';

before(setupBackend);

it('decoder cosine equals the dense definition, |cos| = 0.4 kept, zero rows give 0', async () => {
  const r = rng(3);
  const d = 37, dModel = 6;
  const WA = Array.from({ length: d }, () => Array.from({ length: dModel }, () => Math.fround(r() * 2 - 1)));
  const WB = Array.from({ length: d }, () => Array.from({ length: dModel }, () => Math.fround(r() * 2 - 1)));
  // exact threshold: (1,0,0,0,..) . (2,4,2,1,..)/5 = 0.4; (2,4,2,1.5) gives 0.39 < 0.4; a zero row
  WA[0] = [1, 0, 0, 0, 0, 0];
  WB[0] = [2, 4, 2, 1, 0, 0];
  WB[1] = [2, 4, 2, 1.5, 0, 0];
  WB[2] = [-2, -4, -2, -1, 0, 0];
  WA[3] = [0, 0, 0, 0, 0, 0];
  const ref = denseDecoderCosine(WA, WB);
  const a = tf.tensor2d(WA), b = tf.tensor2d(WB);
  for (const block of [5, 512]) {
    const got = statToDense(await decoderCosinePairs(a, b, { block_rows: block }), d, d, 'cosine_similarity');
    assert.strictEqual(got[0][0], Math.fround(0.4));
    assert.strictEqual(got[0][1], 0);
    assert.strictEqual(got[0][2], Math.fround(-0.4));
    assert.ok(got[3].every((v) => v === 0));
    assert.ok(nnz(ref) > 50);
    assertStatEqual(got, ref, 0.4, 'cosine_similarity', 1e-5);
  }
  const rows = statToDense(await decoderCosinePairs(a, b, { rows: [10, 20], block_rows: 4 }), d, d, 'rows');
  assertStatEqual(rows, ref.map((row, i) => (i >= 10 && i < 20 ? row : row.map(() => 0))), 0.4, 'rows', 1e-5);
  a.dispose(); b.dispose();
});
