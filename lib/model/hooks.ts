import * as tf from '@tensorflow/tfjs';
import { HookFn, HookSelector } from './types';

/** True when a selector (exact name or predicate) picks this hook name. */
export function selectorMatches(sel: HookSelector, name: string): boolean {
  return typeof sel === 'string' ? sel === name : sel(name);
}

/** Throw an Error naming the unknown hook and listing the valid ones. */
export function unknownHookError(name: string, valid: string[]): Error {
  return new Error(`unknown hook name '${name}'. Valid hook names (${valid.length}): ${valid.join(', ')}`);
}

/**
 * The hook state of one forward pass: applies forward hooks in order and records cached
 * activations (after the hooks, as TransformerLens caches what flows on).
 */
export class HookRun {
  /** cached activations, kept out of the pass's tidy scope */
  readonly cached = new Map<string, tf.Tensor>();

  constructor(
    private readonly hooks: Array<[HookSelector, HookFn]>,
    private readonly cacheNames: Set<string> | null,
  ) {}

  /**
   * Whether anything (a hook or the cache) reads this hook point. Optional hook points (attn.hook_result)
   * are computed only when asked for by exact name, not by a predicate.
   */
  active(name: string, optional = false): boolean {
    if (this.cacheNames?.has(name)) return true;
    return this.hooks.some(([sel]) => (optional ? sel === name : selectorMatches(sel, name)));
  }

  /** Whether a forward hook (which may replace the activation) runs at this hook point; caching alone does not count. */
  hooked(name: string): boolean {
    return this.hooks.some(([sel]) => selectorMatches(sel, name));
  }

  /** Run the hook point `name` on activation x; returns the (possibly replaced) activation. */
  point<T extends tf.Tensor>(name: string, x: T): T {
    let out: tf.Tensor = x;
    for (const [sel, fn] of this.hooks) {
      if (!selectorMatches(sel, name)) continue;
      const r = fn(out, { name });
      if (r != null) {
        if (!(r instanceof tf.Tensor)) throw new Error(`hook on '${name}' returned ${typeof r}, expected a tf.Tensor or nothing`);
        if (r.rank !== out.rank || r.shape.some((d, i) => d !== out.shape[i])) {
          throw new Error(`hook on '${name}' returned shape [${r.shape}], the activation has shape [${out.shape}]`);
        }
        out = r.dtype === out.dtype ? r : tf.cast(r, out.dtype);
      }
    }
    if (this.cacheNames?.has(name)) {
      const prev = this.cached.get(name);
      if (prev) prev.dispose();
      this.cached.set(name, tf.keep(out.clone()));
    }
    return out as T;
  }
}
