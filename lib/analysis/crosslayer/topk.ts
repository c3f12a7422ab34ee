import { SparseCodes } from './sparse';

/** One top activation of a feature: its value and the global token index where it happened. */
export interface TopActivation {
  activation: number;
  token: number;
}

/**
 * Streaming top-k activations of chosen features (e.g. the nodes of a feature graph), batch by batch
 * from the same sparse codes the collectors take; the driver maps global token indices to contexts.
 */
export class TopActivations {
  tokens = 0;
  private heaps = new Map<number, TopActivation[]>();

  /** @param features per layer, the feature ids to track */
  constructor(readonly features: Array<number[]>, readonly k = 10) {
    features.forEach((fs, L) => fs.forEach((f) => this.heaps.set(this.key(L, f), [])));
  }

  private key(L: number, f: number): number {
    return L * 2 ** 26 + f;
  }

  /** Add one batch: one SparseCodes per layer (same tokens). */
  add(layers: SparseCodes[]): void {
    const T = layers[0].T;
    layers.forEach((c, L) => {
      if (c.T !== T) throw new Error(`layer ${L} has ${c.T} tokens, layer 0 has ${T}`);
      for (let t = 0; t < T; t++) {
        for (let p = c.indptr[t]; p < c.indptr[t + 1]; p++) {
          const h = this.heaps.get(this.key(L, c.indices[p]));
          if (!h) continue;
          const v = c.values[p];
          if (h.length < this.k) { h.push({ activation: v, token: this.tokens + t }); h.sort((a, b) => b.activation - a.activation); }
          else if (v > h[h.length - 1].activation) { h[h.length - 1] = { activation: v, token: this.tokens + t }; h.sort((a, b) => b.activation - a.activation); }
        }
      }
    });
    this.tokens += T;
  }

  /** Top activations of (layer, feature), largest first. */
  top(layer: number, feature: number): TopActivation[] {
    return (this.heaps.get(this.key(layer, feature)) ?? []).slice();
  }
}
