import * as tf from '@tensorflow/tfjs';
import { ActivationSource } from './sources';
import type { RunWithCacheOptions } from '../model/types';
import { stopAtLayerFor } from '../model/hookNames';

/** What the model source needs from a model: TransformerLens's run_with_cache with stopAtLayer. */
export interface CachingModel {
  runWithCache(tokens: tf.Tensor, opts: RunWithCacheOptions): { cache: { take(name: string): tf.Tensor; dispose(): void } };
}

/** A re-startable stream of token contexts (each Int32Array[contextSize]); called again to replay from the start. */
export type ContextStreamFactory = () => AsyncIterable<Int32Array> | Iterable<Int32Array>;

export interface ModelActivationSourceOptions {
  /** hook to read, e.g. blocks.3.hook_resid_post (hook_z activations are flattened to n_heads * d_head) */
  hookName: string;
  /** transcoder training: a second hook read in the same pass (e.g. blocks.3.hook_mlp_out); rows become [input | output] */
  hookNameOut?: string;
  /** contexts per forward pass (SAELens store_batch_size_prompts; default 8) */
  contextsPerBatch?: number;
  /** start the context stream over when it ends (default true) */
  loop?: boolean;
}


/**
 * Activations streamed from a model: contexts from the stream are run to the hook (stopAtLayer = layer + 1)
 * in batches of contextsPerBatch and every position becomes a row [n_ctx * context_size, d_in]. The position
 * is the number of contexts consumed; restoring replays the stream (a fresh iterator) up to it.
 */
export class ModelActivationSource implements ActivationSource {
  private iter: AsyncIterator<Int32Array> | Iterator<Int32Array> | null = null;
  private consumed = 0;
  private epoch = 0;
  private first: tf.Tensor2D | null = null;
  /** widths of the hooks read, learnt from the first batch */
  private widths: number[] = [];

  private constructor(readonly model: CachingModel, readonly contexts: ContextStreamFactory, readonly opts: ModelActivationSourceOptions, readonly dIn: number, readonly dOut?: number) {}

  /** Build the source; runs the first batch to learn d_in (that batch is served first, nothing is lost). */
  static async create(model: CachingModel, contexts: ContextStreamFactory, opts: ModelActivationSourceOptions): Promise<ModelActivationSource> {
    const probe = new ModelActivationSource(model, contexts, opts, 0);
    const first = await probe.readBatch();
    if (!first) throw new Error(`ModelActivationSource: the context stream for ${opts.hookName} is empty`);
    const src = new ModelActivationSource(model, contexts, opts, probe.widths[0], opts.hookNameOut ? probe.widths[1] : undefined);
    src.iter = probe.iter;
    src.consumed = probe.consumed;
    src.first = first;
    return src;
  }

  private async nextContext(): Promise<Int32Array | null> {
    if (!this.iter) {
      const s = this.contexts();
      this.iter = Symbol.asyncIterator in (s as object) ? (s as AsyncIterable<Int32Array>)[Symbol.asyncIterator]() : (s as Iterable<Int32Array>)[Symbol.iterator]();
    }
    const r = await this.iter.next();
    if (r.done) {
      if (this.opts.loop === false || this.consumed === 0) return null;
      this.iter = null;
      this.epoch += 1;
      this.consumed = 0;
      return this.nextContext();
    }
    this.consumed += 1;
    return r.value;
  }

  private async readBatch(): Promise<tf.Tensor2D | null> {
    const n = this.opts.contextsPerBatch ?? 8;
    const ctxs: Int32Array[] = [];
    for (let i = 0; i < n; i++) {
      const c = await this.nextContext();
      if (!c) break;
      if (ctxs.length && c.length !== ctxs[0].length) throw new Error(`ModelActivationSource: contexts have different lengths (${ctxs[0].length} and ${c.length}); pack them to one context size`);
      ctxs.push(c);
    }
    if (!ctxs.length) return null;
    const P = ctxs[0].length;
    const flat = new Int32Array(ctxs.length * P);
    ctxs.forEach((c, i) => flat.set(c, i * P));
    const tokens = tf.tensor2d(flat, [ctxs.length, P], 'int32');
    try {
      const hooks = this.opts.hookNameOut ? [this.opts.hookName, this.opts.hookNameOut] : [this.opts.hookName];
      const stops = hooks.map(stopAtLayerFor);
      const stopAtLayer = stops.some((s) => s === undefined) ? undefined : Math.max(...(stops as number[]));
      const { cache } = this.model.runWithCache(tokens, { namesFilter: hooks, stopAtLayer, returnType: 'none' });
      const rows = ctxs.length * P;
      const parts = hooks.map((h) => {
        const act = cache.take(h);
        const flat = tf.reshape(act, [rows, act.size / rows]) as tf.Tensor2D;
        if (flat !== act) act.dispose();
        return flat;
      });
      cache.dispose();
      this.widths = parts.map((t) => t.shape[1]);
      if (parts.length === 1) return parts[0];
      const out = tf.concat(parts, 1) as tf.Tensor2D;
      tf.dispose(parts);
      return out;
    } finally {
      tokens.dispose();
    }
  }

  async next(): Promise<tf.Tensor2D | null> {
    if (this.first) {
      const f = this.first;
      this.first = null;
      return f;
    }
    return this.readBatch();
  }

  getState(): Record<string, unknown> {
    if (this.first) throw new Error('ModelActivationSource: state asked before the first batch was served');
    return { kind: 'model', hookName: this.opts.hookName, hookNameOut: this.opts.hookNameOut ?? null, consumed: this.consumed, epoch: this.epoch };
  }

  async restore(state: Record<string, unknown>): Promise<void> {
    if (state.hookName !== this.opts.hookName) throw new Error(`ModelActivationSource: checkpoint was made on ${String(state.hookName)}, this source reads ${this.opts.hookName}`);
    if ((state.hookNameOut ?? null) !== (this.opts.hookNameOut ?? null)) throw new Error(`ModelActivationSource: checkpoint was made with output hook ${String(state.hookNameOut)}, this source reads ${this.opts.hookNameOut ?? 'none'}`);
    this.first?.dispose();
    this.first = null;
    this.iter = null;
    this.consumed = 0;
    const target = Number(state.consumed);
    for (let i = 0; i < target; i++) {
      if (!(await this.nextContext())) throw new Error(`ModelActivationSource: the context stream ended after ${i} contexts while replaying to ${target}`);
    }
    this.epoch = Number(state.epoch);
  }

  describe(): string {
    return this.opts.hookNameOut ? `model activations at ${this.opts.hookName} -> ${this.opts.hookNameOut}` : `model activations at ${this.opts.hookName}`;
  }
}
