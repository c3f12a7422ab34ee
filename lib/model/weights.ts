/**
 * Model weights kept in 16 bits between passes (TransformerLens's `dtype` of bfloat16 / float16).
 *
 * The stored-weights contract (what a 16-bit matmul kernel can build on):
 * - a `PackedWeight` is one TransformerLens parameter (same name and shape as the float32 one, e.g.
 *   `blocks.3.attn.W_Q` [n_heads, d_model, d_head]) held as row-major 16-bit bit patterns
 *   (`bits`, bfloat16 or IEEE half per `dtype`);
 * - the bits are the float32 value after TransformerLens's weight processing, rounded to nearest even
 *   once at load; widening them gives exactly that rounded value;
 * - the model widens a block's weights to float32 tensors when the block runs and frees them after
 *   it, so a pass holds one block in float32 (`widen`, `widenRows` for embedding rows,
 *   `widenColumns` for unembedding column blocks).
 */
import * as tf from '@tensorflow/tfjs';
import { bf16BitsToF32Into } from '../io/safetensorsCore';
import { f16ToF32, f32BitsToF16, f32ToBf16Bits } from '../io/dtypes';

/** TransformerLens's dtype names for the weights. */
export type WeightDtype = 'float32' | 'bfloat16' | 'float16';
export type PackedDtype = Exclude<WeightDtype, 'float32'>;

export const WEIGHT_DTYPES: readonly WeightDtype[] = ['float32', 'bfloat16', 'float16'];

/** Bytes per stored value. */
export function dtypeBytes(d: WeightDtype): number {
  return d === 'float32' ? 4 : 2;
}

/** A parameter in 16 bits: shape and row-major bit patterns. */
export interface PackedWeight {
  shape: number[];
  dtype: PackedDtype;
  bits: Uint16Array;
}

let f16Table: Float32Array | null = null;
/** float16 bits -> float32 value, by a 65,536-entry table. */
function f16Lookup(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

/** float32 -> IEEE half bits, round to nearest even (via the float's bits). */
function f32ToF16BitsInto(src: Float32Array, out: Uint16Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16(u[i]);
}

/** Round float32 values to 16-bit bits (nearest even). */
export function packValues(values: Float32Array, dtype: PackedDtype): Uint16Array {
  const bits = new Uint16Array(values.length);
  if (dtype === 'bfloat16') f32ToBf16Bits(values, bits, values.length);
  else f32ToF16BitsInto(values, bits);
  return bits;
}

/** Round a float32 tensor into a packed weight (the tensor is not disposed). */
export function packTensor(t: tf.Tensor, dtype: PackedDtype): PackedWeight {
  return { shape: t.shape.slice(), dtype, bits: packValues(t.dataSync() as Float32Array, dtype) };
}

/** Widen bits[start, start + out.length) into out. */
export function widenInto(p: PackedWeight, out: Float32Array, start = 0): void {
  const src = p.bits.subarray(start, start + out.length);
  if (p.dtype === 'bfloat16') bf16BitsToF32Into(src, out);
  else {
    const table = f16Lookup();
    for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  }
}

/** The whole weight as a new float32 tensor. */
export function widen(p: PackedWeight): tf.Tensor {
  const out = new Float32Array(p.bits.length);
  widenInto(p, out);
  return tf.tensor(out, p.shape, 'float32');
}

/** Rows `ids` of a 2-D weight [rows, cols] as a float32 tensor [ids.length, cols] (embedding lookup). */
export function widenRows(p: PackedWeight, ids: ArrayLike<number>): tf.Tensor2D {
  const cols = p.shape[1];
  const out = new Float32Array(ids.length * cols);
  for (let i = 0; i < ids.length; i++) {
    const r = ids[i];
    if (!(r >= 0 && r < p.shape[0])) throw new Error(`embedding row ${r} out of range [0, ${p.shape[0]})`);
    widenInto(p, out.subarray(i * cols, (i + 1) * cols), r * cols);
  }
  return tf.tensor2d(out, [ids.length, cols], 'float32');
}

/** Columns [start, start + count) of a 2-D weight [rows, cols] as a float32 tensor [rows, count] (unembedding blocks). */
export function widenColumns(p: PackedWeight, start: number, count: number): tf.Tensor2D {
  const [rows, cols] = p.shape;
  const out = new Float32Array(rows * count);
  const row = new Float32Array(count);
  for (let r = 0; r < rows; r++) {
    widenInto(p, row, r * cols + start);
    out.set(row, r * count);
  }
  return tf.tensor2d(out, [rows, count], 'float32');
}

/** Is gradient recording on (then widened weights must live until the gradient is taken)? */
export function tapeActive(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}
