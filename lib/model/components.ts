import * as tf from '@tensorflow/tfjs';
import { fusedGelu } from '../backend/fusedOps';

/**
 * Building blocks of the forward pass, written in batched tfjs ops (differentiable).
 * Shapes in comments: b = batch, p = position, h = heads, dh = d_head, d = d_model.
 */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The activation functions TransformerLens names (act_fn). */
export function activation(name: string, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      const fused = fusedGelu(x, 'tanh'); // one kernel on the native backend
      if (fused) return fused;
      // 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), computed as x * sigmoid(2u):
      // the same function, and far fewer (and cheaper) elementwise passes than tanh
      const twoU = tf.mul(x, tf.add(tf.mul(tf.square(x), 2 * SQRT_2_OVER_PI * 0.044715), 2 * SQRT_2_OVER_PI));
      return tf.mul(x, tf.sigmoid(twoU));
    }
    case 'gelu':
      // exact: 0.5 x (1 + erf(x / sqrt 2))
      return fusedGelu(x, 'none') ?? tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'relu':
      return tf.relu(x);
    default:
      throw new Error(`activation function '${name}' is not supported`);
  }
}

/**
 * Row lookup table[ids] ([V, d] by int ids [...]) whose gradient for the table is a scatter-add:
 * tfjs's own gather gradient needs UnsortedSegmentSum, which the wasm backend lacks.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const flatIds = tf.reshape(ids, [-1]) as tf.Tensor1D;
  const lookup = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const t = args[0] as tf.Tensor2D;
    const idx = args[1] as tf.Tensor1D;
    (args[2] as tf.GradSaveFunc)([idx]);
    const shape = t.shape;
    const value = tf.gather(t, idx);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.scatterND(tf.reshape(saved[0], [-1, 1]), dy, shape),
      tf.zerosLike(saved[0]),
    ];
    return { value, gradFunc };
  });
  const rows = lookup(table, flatIds) as tf.Tensor2D;
  return tf.reshape(rows, [...ids.shape, table.shape[1]]);
}

/** x [..., k] @ w [k, n] (+ bias [n]) as one 2-D matmul. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, bias?: tf.Tensor): tf.Tensor {
  const k = x.shape[x.rank - 1];
  const lead = x.shape.slice(0, -1);
  const x2 = tf.reshape(x, [-1, k]) as tf.Tensor2D;
  // the bias is copied (tiny) because the wasm fused kernel checks the rank of the buffer a reshaped view shares
  const out = bias ? tf.fused.matMul({ a: x2, b: w, bias: tf.mul(tf.reshape(bias, [-1]), 1) }) : tf.matMul(x2, w);
  return tf.reshape(out, [...lead, w.shape[1]]);
}

/** Per-head weights [h, d, dh] -> one matrix [d, h*dh] so q for all heads is one matmul. */
export function headsToMatrix(w: tf.Tensor): tf.Tensor2D {
  const [h, d, dh] = w.shape;
  return tf.reshape(tf.transpose(w, [1, 0, 2]), [d, h * dh]) as tf.Tensor2D;
}

/** NeoX / Llama rotary tables for positions [p] (or [b, p]): cos, sin [..., rotary_dim]. */
export function rotaryTables(positions: tf.Tensor, rotaryDim: number, base: number, adjacentPairs: boolean): { cos: tf.Tensor; sin: tf.Tensor } {
  const half = rotaryDim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(base, i / half);
  const freqIdx: number[] = [];
  for (let j = 0; j < rotaryDim; j++) freqIdx.push(adjacentPairs ? Math.floor(j / 2) : j % half);
  const freq = tf.gather(tf.tensor1d(invFreq), tf.tensor1d(freqIdx, 'int32'));
  const angles = tf.mul(tf.expandDims(tf.cast(positions, 'float32'), -1), freq);
  return { cos: tf.cos(angles), sin: tf.sin(angles) };
}

/**
 * Apply rotary to x [b, p, heads, dh] on its first rotary_dim dims; cos/sin broadcast as [b|1, p, 1, rd].
 * Halves layout: dim i pairs with i + rd/2 (rotate: [x1, x2] -> [-x2, x1]).
 */
export function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, rotaryDim: number, adjacentPairs: boolean): tf.Tensor {
  const dh = x.shape[3] as number;
  const xRot = rotaryDim === dh ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, rotaryDim]);
  let flipped: tf.Tensor;
  if (adjacentPairs) {
    const [b, p, h] = x.shape;
    const pairs = tf.reshape(xRot, [b, p, h, rotaryDim / 2, 2]);
    const even = tf.slice(pairs, [0, 0, 0, 0, 0], [-1, -1, -1, -1, 1]);
    const odd = tf.slice(pairs, [0, 0, 0, 0, 1], [-1, -1, -1, -1, 1]);
    flipped = tf.reshape(tf.concat([tf.neg(odd), even], 4), [b, p, h, rotaryDim]);
  } else {
    const half = rotaryDim / 2;
    const x1 = tf.slice(xRot, [0, 0, 0, 0], [-1, -1, -1, half]);
    const x2 = tf.slice(xRot, [0, 0, 0, half], [-1, -1, -1, half]);
    flipped = tf.concat([tf.neg(x2), x1], 3);
  }
  const rotated = tf.add(tf.mul(xRot, cos), tf.mul(flipped, sin));
  if (rotaryDim === dh) return rotated;
  return tf.concat([rotated, tf.slice(x, [0, 0, 0, rotaryDim], [-1, -1, -1, dh - rotaryDim])], 3);
}

/** Repeat key/value heads [b, p, kv, dh] to [b, p, kv*group, dh] (torch.repeat_interleave on heads). */
export function repeatKvHeads(x: tf.Tensor, group: number): tf.Tensor {
  if (group === 1) return x;
  const [b, p, kv, dh] = x.shape;
  // broadcasting multiply instead of tile: tfjs has no rank-5 tile gradient
  return tf.reshape(tf.mul(tf.reshape(x, [b, p, kv, 1, dh]), tf.ones([1, 1, 1, group, 1])), [b, p, kv * group, dh]);
}

/**
 * Additive attention masks [B|1, 1, q, k]: 0 where a query may see a key (key <= query, within the
 * sliding window, not padding), `fill` elsewhere. The causal part is built on the JS side (tiny);
 * the padding part is broadcast in. Also the 0/1 mask when a padding mask is given.
 */
export function attentionMasks(pos: number, windowSize: number | null, padMask: tf.Tensor2D | undefined, negBig: number): { negBig: tf.Tensor; negInf: tf.Tensor; visible: tf.Tensor | null } {
  const big = new Float32Array(pos * pos);
  const inf = new Float32Array(pos * pos);
  const vis = new Float32Array(pos * pos);
  for (let q = 0; q < pos; q++) {
    for (let k = 0; k < pos; k++) {
      const ok = k <= q && (windowSize == null || k > q - windowSize);
      big[q * pos + k] = ok ? 0 : negBig;
      inf[q * pos + k] = ok ? 0 : -Infinity;
      vis[q * pos + k] = ok ? 1 : 0;
    }
  }
  let negBigT: tf.Tensor = tf.tensor4d(big, [1, 1, pos, pos]);
  let negInfT: tf.Tensor = tf.tensor4d(inf, [1, 1, pos, pos]);
  if (!padMask) return { negBig: negBigT, negInf: negInfT, visible: null };
  const keyOk = tf.reshape(tf.cast(padMask, 'float32'), [padMask.shape[0], 1, 1, pos]); // [B, 1, 1, k]
  const keyMissing = tf.sub(1, keyOk);
  negBigT = tf.add(negBigT, tf.mul(keyMissing, negBig));
  // -inf * 0 would be NaN: add -inf only where the key is padding
  negInfT = tf.add(negInfT, tf.where(tf.cast(keyMissing, 'bool'), tf.fill(keyOk.shape, -Infinity), tf.zerosLike(keyOk)));
  const visible = tf.mul(tf.tensor4d(vis, [1, 1, pos, pos]), keyOk);
  return { negBig: negBigT, negInf: negInfT, visible };
}

/** Position ids from a padding mask [b, p] as TransformerLens: cumsum(mask) - 1, clamped at 0. */
export function offsetPositionIds(padMask: tf.Tensor2D): tf.Tensor2D {
  return tf.maximum(tf.sub(tf.cumsum(tf.cast(padMask, 'int32'), 1), tf.scalar(1, 'int32')), tf.scalar(0, 'int32')) as tf.Tensor2D;
}
