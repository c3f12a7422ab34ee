import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { REPO_ROOT } from '../helpers';
import { SUPPORTED_MODEL_TYPES } from '../../lib/model/hf';

export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'model');
/** Every registered model family; each has a tiny checkpoint and golden values in test/fixtures/model. */
export const FAMILIES = SUPPORTED_MODEL_TYPES;

/** Elementwise |a - b| <= atol + rtol |b|; equal infinities count as equal. */
export function assertTensorClose(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number>, atol: number, rtol: number, label: string): void {
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    assert.deepStrictEqual(actual.shape, expected.shape, `${label}: shape [${actual.shape}] vs expected [${expected.shape}]`);
  }
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const b = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  assert.strictEqual(a.length, b.length, `${label}: ${a.length} values vs ${b.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const err = Math.abs(a[i] - b[i]) - (atol + rtol * Math.abs(b[i]));
    if (!(err <= 0)) {
      if (!(err <= worst) || Number.isNaN(err)) { worst = Number.isNaN(err) ? Infinity : err; at = i; }
    }
  }
  if (at >= 0) assert.fail(`${label}: index ${at}: ${a[at]} vs expected ${b[at]} (atol ${atol}, rtol ${rtol})`);
}

/** Max |x| over a tensor. */
export function maxAbs(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
}
