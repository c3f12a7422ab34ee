/** Reading feature activations [n, d_sae] (or [batch, pos, d_sae]) from a safetensors file, for activation matching. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile, rawToFloat32 } from '../io/safetensors';
import { SafetensorsActivationSource } from '../train/sources';

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

/**
 * Streams tensor `name` of each file (all [tokens, width], the same tokens) `chunk` rows at a time, never
 * a whole file in memory: `each` gets the files' chunks for rows [start, start + n) (disposed after).
 */
export async function forEachRowChunk(files: string[], name: string, chunk: number, each: (chunks: tf.Tensor2D[], start: number) => void | Promise<void>, what = 'feature activations'): Promise<number> {
  for (const file of files) if (!fs.existsSync(file)) throw new Error(`${file}: no such file (${what})`);
  const sources = files.map((f) => new SafetensorsActivationSource([f], name, { chunkTokens: chunk, loop: false }));
  const rows = sources.map((s) => s.totalRows);
  if (rows.some((r) => r !== rows[0])) throw new Error(`${files.join(' and ')}: ${what} cover different numbers of tokens (${rows.join(' vs ')})`);
  let start = 0;
  for (;;) {
    const parts = await Promise.all(sources.map((s) => s.next()));
    if (parts.some((p) => p === null)) {
      tf.dispose(parts.filter((p): p is tf.Tensor2D => p !== null));
      return start;
    }
    const chunks = parts as tf.Tensor2D[];
    try {
      await each(chunks, start);
    } finally {
      tf.dispose(chunks);
    }
    start += chunks[0].shape[0];
  }
}

/** One of a feature's strongest rows. */
export interface TopRow {
  row: number;
  value: number;
}

/**
 * Each column's k largest positive values of tensor `name` of `file` [tokens, width] and their rows,
 * strongest first (ties: the lower row first, as tf.topk), streamed `chunk` rows at a time.
 */
export async function topRowsPerColumn(file: string, name: string, k: number, chunk = 4096): Promise<TopRow[][]> {
  let top: TopRow[][] = [];
  await forEachRowChunk([file], name, chunk, ([x], start) => {
    const [n, w] = x.shape;
    if (top.length === 0) top = Array.from({ length: w }, () => []);
    const kk = Math.min(k, n);
    const { values, indices } = tf.tidy(() => tf.topk(tf.transpose(x), kk));
    const v = values.dataSync() as Float32Array;
    const ix = indices.dataSync() as Int32Array;
    tf.dispose([values, indices]);
    for (let f = 0; f < w; f++) {
      const list = top[f];
      for (let r = 0; r < kk; r++) {
        const value = v[f * kk + r];
        if (!(value > 0)) break;
        list.push({ row: start + ix[f * kk + r], value });
      }
      list.sort((a, b) => b.value - a.value || a.row - b.row);
      list.length = Math.min(list.length, k);
    }
  });
  return top;
}
