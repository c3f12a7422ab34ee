import * as tf from '@tensorflow/tfjs';
import { hookLayer } from '../../model/hookNames';
import { HookedTransformer } from '../../model/hookedTransformer';
import { SAE } from '../../sae/sae';
import { FeatureCodeSource } from './driver';
import { SparseCodes, denseToSparse, sliceTokens } from './sparse';

/** The layer of an SAE hook (the cross-layer study pairs SAEs of consecutive blocks). */
const blockOf = (hook: string) => hookLayer(hook, 'the cross-layer study (SAEs of consecutive blocks)');

/** Token contexts in a fixed order: `contexts(skip)` yields the stream from context number `skip` on. */
export type ContextStream = (skip: number) => AsyncIterable<Int32Array> | Iterable<Int32Array>;

export interface ModelSourceOptions {
  model: HookedTransformer;
  /** one SAE per layer of the study, in layer order; each reads its cfg.metadata.hook_name */
  saes: SAE[];
  /** the token stream, each context `contextSize` ids */
  contexts: ContextStream;
  contextSize: number;
  /** contexts per forward pass; a last partial batch is dropped (as the seed does) */
  batchSize: number;
  /** stop after this many batches (default: when the stream ends) */
  maxBatches?: number;
  /** rows encoded per SAE call (bounds the dense [rows, d_sae] buffer). Default 4096 */
  encodeChunkTokens?: number;
  /** called with each batch's token ids `[batchSize * contextSize]` and its first global token index */
  onTokens?: (start: number, ids: Int32Array) => void;
}


/** Concatenate per-chunk SparseCodes of the same d into one batch. */
export function concatSparse(parts: SparseCodes[]): SparseCodes {
  if (parts.length === 1) return parts[0];
  const d = parts[0].d;
  let T = 0;
  let nnz = 0;
  for (const p of parts) { T += p.T; nnz += p.indices.length; }
  const indptr = new Int32Array(T + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let t = 0;
  let at = 0;
  for (const p of parts) {
    for (let k = 1; k <= p.T; k++) indptr[t + k] = at + p.indptr[k];
    indices.set(p.indices, at);
    values.set(p.values, at);
    t += p.T;
    at += p.indices.length;
  }
  return { T, d, indptr, indices, values };
}

/** SAE feature activations of `acts` [..., d_in] as SparseCodes over the flattened tokens, encoded in row chunks. */
export function encodeSparse(sae: SAE, acts: tf.Tensor, chunk = 4096): SparseCodes {
  const d = sae.cfg.d_sae;
  const flat = tf.reshape(acts, [-1, acts.shape[acts.rank - 1]]) as tf.Tensor2D;
  try {
    const n = flat.shape[0];
    const parts: SparseCodes[] = [];
    for (let r = 0; r < n; r += chunk) {
      const rows = Math.min(chunk, n - r);
      const f = tf.tidy(() => sae.encode(rows === n ? flat : tf.slice(flat, [r, 0], [rows, -1])));
      try {
        parts.push(denseToSparse(f.dataSync() as Float32Array, d, `SAE ${sae.cfg.metadata.hook_name}`));
      } finally {
        f.dispose();
      }
    }
    return concatSparse(parts);
  } finally {
    flat.dispose();
  }
}

/**
 * Feature activations streamed straight from a model and its SAEs (no activation files): each batch of
 * contexts runs the model once, caching only the SAE hooks and stopping after the last one, and each
 * hook's activations are encoded by its SAE into sparse codes. Batches always start at multiples of
 * `batchSize` contexts, so a resumed run sees exactly the activations of an uninterrupted one.
 */
export class ModelFeatureCodeSource implements FeatureCodeSource {
  readonly n_layers: number;
  readonly d_sae: number;
  readonly hooks: string[];
  private readonly stopAtLayer: number;

  constructor(readonly opts: ModelSourceOptions) {
    const { saes, model } = opts;
    if (saes.length < 2) throw new Error(`ModelFeatureCodeSource: ${saes.length} SAE(s) given; the cross-layer statistics need at least two layers`);
    this.hooks = saes.map((s) => s.cfg.metadata.hook_name);
    const d = saes[0].cfg.d_sae;
    saes.forEach((s, i) => {
      if (s.cfg.d_sae !== d) throw new Error(`ModelFeatureCodeSource: the SAE at ${this.hooks[i]} has d_sae ${s.cfg.d_sae}, the one at ${this.hooks[0]} has ${d}; all layers must have the same d_sae`);
      if (i > 0 && blockOf(this.hooks[i]) < blockOf(this.hooks[i - 1])) throw new Error(`ModelFeatureCodeSource: SAE hooks must be in layer order, got ${this.hooks[i - 1]} before ${this.hooks[i]}`);
    });
    if (new Set(this.hooks).size !== this.hooks.length) throw new Error(`ModelFeatureCodeSource: a hook appears twice in ${this.hooks.join(', ')}`);
    const names = model.hookNames({ includeOptional: true });
    for (const h of this.hooks) if (!names.includes(h)) throw new Error(`ModelFeatureCodeSource: ${h} is not a hook of the model ${model.cfg.model_name}`);
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`ModelFeatureCodeSource: batchSize must be a positive integer, got ${opts.batchSize}`);
    if (!Number.isInteger(opts.contextSize) || opts.contextSize < 1) throw new Error(`ModelFeatureCodeSource: contextSize must be a positive integer, got ${opts.contextSize}`);
    this.n_layers = saes.length;
    this.d_sae = d;
    this.stopAtLayer = Math.min(model.cfg.n_layers, Math.max(...this.hooks.map(blockOf)) + 1);
  }

  /** Tokens per batch (batchSize x contextSize). */
  get batchTokens(): number {
    return this.opts.batchSize * this.opts.contextSize;
  }

  /** Sparse codes of one batch of token ids `[b * contextSize]`, one per layer. */
  encodeBatch(ids: Int32Array): SparseCodes[] {
    const { model, saes, contextSize } = this.opts;
    const tokens = tf.tensor2d(ids, [ids.length / contextSize, contextSize], 'int32');
    const { cache } = model.runWithCache(tokens, { namesFilter: this.hooks, stopAtLayer: this.stopAtLayer, returnType: 'none' });
    try {
      return saes.map((sae, L) => encodeSparse(sae, cache.get(this.hooks[L]), this.opts.encodeChunkTokens));
    } finally {
      cache.dispose();
      tokens.dispose();
    }
  }

  async *batches(start: number): AsyncIterable<SparseCodes[]> {
    const { batchSize, contextSize } = this.opts;
    const bt = this.batchTokens;
    const first = Math.floor(start / bt);
    const maxBatches = this.opts.maxBatches ?? Infinity;
    let skipTokens = start - first * bt;
    let index = first;
    let buf: Int32Array[] = [];
    if (index >= maxBatches) return;
    for await (const c of this.opts.contexts(first * batchSize)) {
      if (c.length !== contextSize) throw new Error(`ModelFeatureCodeSource: a context has ${c.length} tokens, expected contextSize ${contextSize}`);
      buf.push(c);
      if (buf.length < batchSize) continue;
      const ids = new Int32Array(bt);
      buf.forEach((x, i) => ids.set(x, i * contextSize));
      buf = [];
      this.opts.onTokens?.(index * bt, ids);
      let codes = this.encodeBatch(ids);
      if (skipTokens > 0) {
        const s = skipTokens;
        codes = codes.map((x) => sliceTokens(x, s, x.T));
        skipTokens = 0;
      }
      yield codes;
      if (++index >= maxBatches) return;
    }
  }
}
