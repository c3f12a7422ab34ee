import * as tf from '@tensorflow/tfjs';
import { ActivationSource } from './sources';
import { Rng } from '../data/random';

export interface ActivationStoreOptions {
  /** rows per served batch (trainBatchSizeTokens) */
  batchTokens: number;
  /** buffer size in batches: half is served, half kept to mix with the next fill */
  nBatchesInBuffer: number;
  seed: number;
}

/** Everything needed to continue the store exactly (tensors saved beside the JSON part). */
export interface ActivationStoreState {
  json: { rngState: number; source: Record<string, unknown>; scale: number; servedTokens: number };
  tensors: { storage: tf.Tensor2D; queue: tf.Tensor2D | null; pending: tf.Tensor2D | null };
}

/**
 * SAELens-style activation store. A mixing buffer of nBatchesInBuffer batches: half ("storage") is kept,
 * half is served batch by batch; when the served half is used up, half a buffer of new activations is
 * read, concatenated with storage, shuffled (seeded permutation), and split again into storage and the
 * served half. Served batches are multiplied by `scale` (the norm scaling factor; 1 unless set).
 */
export class ActivationStore {
  /** width of the rows: d_in, or d_in + d_out for a paired (transcoder) source */
  readonly dIn: number;
  /** rows per buffer half */
  readonly halfTokens: number;
  /** factor applied to served activations (expected_average_only_in normalization) */
  scale = 1;
  /** rows served so far */
  servedTokens = 0;
  private storage: tf.Tensor2D | null = null;
  private queue: tf.Tensor2D | null = null;
  private queuePos = 0;
  private pending: tf.Tensor2D | null = null;
  private rng: Rng;

  constructor(readonly source: ActivationSource, readonly opts: ActivationStoreOptions) {
    this.dIn = source.dIn + (source.dOut ?? 0);
    this.halfTokens = (opts.nBatchesInBuffer / 2) * opts.batchTokens;
    this.rng = new Rng(opts.seed);
  }

  /** Fill the kept half of the buffer (done once before training; also what b_dec init and norm estimates see). */
  async init(): Promise<void> {
    if (this.storage) return;
    this.storage = await this.take(this.halfTokens);
  }

  /** The kept half of the buffer [halfTokens, d_in], unscaled (call init first). */
  storageBuffer(): tf.Tensor2D {
    if (!this.storage) throw new Error('ActivationStore: call init() before reading the storage buffer');
    return this.storage;
  }

  /**
   * Estimate the expected_average_only_in factor sqrt(d_in) / mean_token |x| over the first `maxTokens`
   * rows of the storage buffer, and apply it to served batches from now on.
   */
  estimateNormScalingFactor(maxTokens: number): number {
    const buf = this.storageBuffer();
    const n = Math.min(maxTokens, buf.shape[0]);
    const meanNorm = tf.tidy(() => tf.mean(tf.norm(tf.slice(buf, [0, 0], [n, this.dIn]), 'euclidean', 1)).dataSync()[0]);
    if (!(meanNorm > 0)) throw new Error(`ActivationStore: mean activation norm is ${meanNorm}; cannot normalize (${this.source.describe()})`);
    this.scale = Math.sqrt(this.dIn) / meanNorm;
    return this.scale;
  }

  /** The next training batch [batchTokens, d_in] (caller disposes). */
  async nextBatch(): Promise<tf.Tensor2D> {
    const B = this.opts.batchTokens;
    if (!this.queue || this.queuePos + B > this.queue.shape[0]) await this.refill();
    const q = this.queue!;
    const start = this.queuePos;
    this.queuePos += B;
    this.servedTokens += B;
    return tf.tidy(() => {
      const b = tf.slice(q, [start, 0], [B, this.dIn]);
      return (this.scale === 1 ? b : tf.mul(b, this.scale)) as tf.Tensor2D;
    });
  }

  private async refill(): Promise<void> {
    await this.init();
    const fresh = await this.take(this.halfTokens);
    const perm = this.rng.permutation(2 * this.halfTokens);
    const old = this.storage!;
    const [storage, queue] = tf.tidy(() => {
      const mixed = tf.gather(tf.concat([fresh, old], 0), tf.tensor1d(perm, 'int32'));
      return [tf.slice(mixed, [0, 0], [this.halfTokens, this.dIn]), tf.slice(mixed, [this.halfTokens, 0], [this.halfTokens, this.dIn])] as tf.Tensor2D[];
    });
    fresh.dispose();
    old.dispose();
    this.queue?.dispose();
    this.storage = storage;
    this.queue = queue;
    this.queuePos = 0;
  }

  /** Read exactly n rows from the source (keeping any overflow for the next read). */
  private async take(n: number): Promise<tf.Tensor2D> {
    const parts: tf.Tensor2D[] = [];
    let have = 0;
    if (this.pending) {
      parts.push(this.pending);
      have += this.pending.shape[0];
      this.pending = null;
    }
    while (have < n) {
      const chunk = await this.source.next();
      if (!chunk) {
        for (const p of parts) p.dispose();
        throw new Error(`ActivationStore: ${this.source.describe()} ran out after ${this.servedTokens} served tokens; provide more activations, let the source loop, or train on fewer tokens`);
      }
      if (chunk.shape[1] !== this.dIn) throw new Error(`ActivationStore: chunk width ${chunk.shape[1]} != d_in ${this.dIn} from ${this.source.describe()}`);
      parts.push(chunk);
      have += chunk.shape[0];
    }
    const all = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
    if (parts.length > 1) for (const p of parts) p.dispose();
    if (have === n) return all;
    const [head, tail] = tf.split(all, [n, have - n], 0) as tf.Tensor2D[];
    all.dispose();
    this.pending = tail;
    return head;
  }

  /** Snapshot for a checkpoint (tensors are copies owned by the caller). */
  getState(): ActivationStoreState {
    const queue = this.queue && this.queuePos < this.queue.shape[0]
      ? (tf.slice(this.queue, [this.queuePos, 0], [this.queue.shape[0] - this.queuePos, this.dIn]) as tf.Tensor2D)
      : null;
    if (!this.storage) throw new Error('ActivationStore: nothing to save before init()');
    return {
      json: { rngState: this.rng.state, source: this.source.getState(), scale: this.scale, servedTokens: this.servedTokens },
      tensors: { storage: tf.clone(this.storage), queue, pending: this.pending ? tf.clone(this.pending) : null },
    };
  }

  /** Continue from a snapshot (takes ownership of its tensors). */
  async restore(state: ActivationStoreState): Promise<void> {
    this.dispose();
    await this.source.restore(state.json.source);
    this.rng = Rng.fromState(state.json.rngState);
    this.scale = state.json.scale;
    this.servedTokens = state.json.servedTokens;
    this.storage = state.tensors.storage;
    this.queue = state.tensors.queue;
    this.queuePos = 0;
    this.pending = state.tensors.pending;
  }

  dispose(): void {
    this.storage?.dispose();
    this.queue?.dispose();
    this.pending?.dispose();
    this.storage = this.queue = this.pending = null;
  }
}
