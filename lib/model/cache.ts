import * as tf from '@tensorflow/tfjs';

/**
 * Activations recorded by runWithCache, keyed by hook name (TransformerLens's ActivationCache).
 * The tensors belong to the cache: call dispose() when done.
 */
export class ActivationCache {
  private readonly store: Map<string, tf.Tensor>;

  constructor(entries: Map<string, tf.Tensor>) {
    this.store = entries;
  }

  /** The activation at a hook name; throws listing the cached names when absent. */
  get(name: string): tf.Tensor {
    const t = this.store.get(name);
    if (!t) {
      throw new Error(`ActivationCache has no '${name}'. Cached hook names (${this.store.size}): ${[...this.store.keys()].join(', ') || '(none)'}`);
    }
    return t;
  }

  has(name: string): boolean {
    return this.store.has(name);
  }

  /** Hook names in the order they were computed. */
  keys(): string[] {
    return [...this.store.keys()];
  }

  get size(): number {
    return this.store.size;
  }

  /** Remove an entry from the cache without disposing it (the caller owns it afterwards). */
  take(name: string): tf.Tensor {
    const t = this.get(name);
    this.store.delete(name);
    return t;
  }

  /** Dispose every cached tensor. */
  dispose(): void {
    for (const t of this.store.values()) t.dispose();
    this.store.clear();
  }
}
