/**
 * Non-finite values (NaN, +-inf) in stored tensors, counted from the stored bits so 16-bit tensors need
 * no conversion. Weights and activations are checked where they enter saelab.
 */
import { NonFiniteError } from './errors';
import { Dtype } from './dtypes';

type Stored = { dtype: Dtype; data: ArrayLike<number> | BigInt64Array };

/** How many values of a stored tensor are NaN or infinite, and the index of the first (-1: none). Integer dtypes have none. */
export function countNonFinite(t: Stored): { count: number; first: number } {
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
