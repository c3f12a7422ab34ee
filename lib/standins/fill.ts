/**
 * Seeded tensor values for stand-in checkpoints, produced chunk by chunk in the stored dtype so a
 * multi-GB tensor never sits in memory. Each tensor has its own stream (seeded by a key and its
 * name), so a finetune can re-create its base's values exactly and add its own perturbation.
 */
import { f32ToF16, f32ToBf16Bits } from '../io/dtypes';
import { hashString } from '../data/random';
import { TensorSpec } from './shapes';

/** One seeded source of values: uniform with the tensor's std, times `scale`. */
export interface ValueStream {
  /** seed key (e.g. "openai-community/gpt2" or "meta-math/MetaMath-Mistral-7B@main") */
  key: string;
  /** multiplier of the tensor's std (1 for the base values, e.g. 0.15 for a finetune's perturbation) */
  scale: number;
}

/** A 32-bit seed from a key and a tensor name. */
export function streamSeed(seed: number, key: string, tensor: string): number {
  return (hashString(`${seed}:${key}:${tensor}`) ^ 0x9e3779b9) >>> 0;
}

/** mulberry32 as an inlined-state generator of uniforms in [-1, 1). */
class Uniform {
  private s: number;
  constructor(seed: number) { this.s = seed | 0; }
  /** fill `out[0..n)` += scale * u, u uniform in [-sqrt(3), sqrt(3)) (unit variance) */
  addInto(out: Float32Array, n: number, scale: number): void {
    let s = this.s;
    const k = scale * Math.sqrt(3) / 2147483648;
    for (let i = 0; i < n; i++) {
      s = (s + 0x6d2b79f5) | 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      out[i] += ((t ^ (t >>> 14)) | 0) * k;
    }
    this.s = s;
  }
}

/**
 * The values of one tensor in chunks of at most `chunk` elements, already in the stored dtype
 * (F32: Float32Array, F16/BF16: Uint16Array bits, BOOL: Uint8Array). Uniform tensors sum the given
 * streams (the base's, then perturbations); constant tensors are the constant plus perturbations of
 * 0.1 x their scale (absolute).
 */
export function* tensorChunks(spec: TensorSpec, seed: number, streams: ValueStream[], chunk = 1 << 22): Generator<Float32Array | Uint16Array | Uint8Array> {
  const total = spec.shape.reduce((a, b) => a * b, 1);
  const init = spec.init;
  const gens = streams.map((s) => new Uniform(streamSeed(seed, s.key, spec.seedName ?? spec.name)));
  const f = new Float32Array(Math.min(chunk, Math.max(total, 1)));
  const bits = spec.dtype === 'BF16' || spec.dtype === 'F16' ? new Uint16Array(f.length) : null;
  const bytes = spec.dtype === 'BOOL' ? new Uint8Array(f.length) : null;
  for (let start = 0; start < total; start += chunk) {
    const n = Math.min(chunk, total - start);
    if (init.kind === 'uniform' || init.kind === 'const') {
      f.fill(init.kind === 'const' ? init.value : 0, 0, n);
      streams.forEach((s, i) => {
        const scale = init.kind === 'uniform' ? init.std * s.scale : (i === 0 ? 0 : 0.1 * s.scale);
        if (scale !== 0) gens[i].addInto(f, n, scale);
      });
    } else if (init.kind === 'causal') {
      const side = spec.shape[spec.shape.length - 1];
      for (let i = 0; i < n; i++) {
        const flat = (start + i) % (side * side);
        f[i] = flat % side <= Math.floor(flat / side) ? 1 : 0;
      }
    } else {
      for (let i = 0; i < n; i++) f[i] = Math.pow(init.base, -(2 * (start + i)) / init.dim);
    }
    if (bits && spec.dtype === 'BF16') { f32ToBf16Bits(f, bits, n); yield bits.subarray(0, n); }
    else if (bits) { for (let i = 0; i < n; i++) bits[i] = f32ToF16(f[i]); yield bits.subarray(0, n); }
    else if (bytes) { for (let i = 0; i < n; i++) bytes[i] = f[i] ? 1 : 0; yield bytes.subarray(0, n); }
    else yield f.subarray(0, n);
  }
}
