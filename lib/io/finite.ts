/**
 * Non-finite values (NaN, +-inf) in stored tensors, counted from the stored bits so 16-bit tensors need
 * no conversion. Weights and activations are checked where they enter saelab.
 */
import { NonFiniteError } from './errors';
import { Dtype } from './dtypes';

type Stored = { dtype: Dtype; data: ArrayLike<number> | BigInt64Array };

/** A counter over the stored bits on every core (the native addon's `nonFinite`): kind 0 F32, 1 F64, 2 F16, 3 BF16. */
export type NativeNonFinite = (data: ArrayBufferView, kind: number, out: Float64Array) => void;
let nativeCounter: NativeNonFinite | undefined;
const NATIVE_KINDS: Partial<Record<Dtype, number>> = { F32: 0, F64: 1, F16: 2, BF16: 3 };
/** Below this many values the JavaScript loop is as fast as a native call. */
const NATIVE_MIN_VALUES = 1 << 16;

/** Use the native counter when the native addon is loaded (lib/backend/native.ts); the counts are the same. */
export function setNativeNonFiniteCounter(fn: NativeNonFinite | undefined): void {
  nativeCounter = fn;
}

/** How many values of a stored tensor are NaN or infinite, and the index of the first (-1: none). Integer dtypes have none. */
export function countNonFinite(t: Stored): { count: number; first: number } {
  const kind = NATIVE_KINDS[t.dtype];
  if (nativeCounter && kind !== undefined && t.data.length >= NATIVE_MIN_VALUES && ArrayBuffer.isView(t.data)) {
    const out = new Float64Array(2);
    nativeCounter(t.data as ArrayBufferView, kind, out);
    return { count: out[0], first: out[1] };
  }
  return countNonFiniteJs(t);
}

/** The same count in JavaScript (the reference for the native counter, and the path without the addon). */
export function countNonFiniteJs(t: Stored): { count: number; first: number } {
  let count = 0;
  let first = -1;
  const note = (i: number) => { if (count++ === 0) first = i; };
  if (t.dtype === 'F32' || t.dtype === 'F64') {
    const d = t.data as Float32Array | Float64Array;
    // x - x is 0 for finite x and NaN for NaN and +-inf
    for (let i = 0; i < d.length; i++) if (d[i] - d[i] !== 0) note(i);
  } else if (t.dtype === 'F16' || t.dtype === 'BF16') {
    const d = t.data as Uint16Array;
    const exp = t.dtype === 'F16' ? 0x7c00 : 0x7f80; // exponent all ones: inf or NaN
    for (let i = 0; i < d.length; i++) if ((d[i] & exp) === exp) note(i);
  }
  return { count, first };
}

/** Throw a NonFiniteError naming `label` (file:tensor), the count and the first index when `t` has NaN or inf values. */
export function assertFinite(t: Stored, label: string, hint = ''): void {
  const { count, first } = countNonFinite(t);
  if (count === 0) return;
  const n = t.data.length;
  throw new NonFiniteError(`${label}: ${count} non-finite value${count === 1 ? '' : 's'} (NaN or inf) of ${n}, the first at flat index ${first}${hint ? `; ${hint}` : ''}`);
}
