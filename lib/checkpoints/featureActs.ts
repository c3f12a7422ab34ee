/** Reading feature activations [n, d_sae] (or [batch, pos, d_sae]) from a safetensors file, for activation matching. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile, rawToFloat32 } from '../io/safetensors';

/** Tensor `name` of `file` as a [tokens, width] float32 tensor (caller disposes); checks its width when given. */
export function readRowsTensor(file: string, name: string, width?: number, what = 'feature activations'): tf.Tensor2D {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file (${what})`);
  const f = SafetensorsFile.open(file);
  try {
    if (!f.has(name)) throw new Error(`${file}: no tensor '${name}' (has ${f.names().join(', ')}); pass --tensor with the ${what} tensor's name`);
    const raw = f.readRaw(name);
    if (raw.shape.length < 2) throw new Error(`${file}:${name} has shape [${raw.shape}], expected [tokens, width] or [batch, pos, width]`);
    const w = raw.shape[raw.shape.length - 1];
    if (width !== undefined && w !== width) throw new Error(`${file}:${name} has width ${w}, expected ${width} (${what})`);
    const n = raw.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    return tf.tensor2d(rawToFloat32(raw), [n, w]);
  } finally {
    f.close();
  }
}
