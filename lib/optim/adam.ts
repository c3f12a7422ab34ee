import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate } from '../backend/fusedOps';

/** Decoupled weight decay (AdamW, Loshchilov & Hutter): the rate, and which parameters get it. */
export interface WeightDecay {
  rate: number;
  /** parameters that decay (e.g. matrices, not biases or norm weights) */
  applies(name: string): boolean;
}

/**
 * Adam on named tf.Variables (torch.optim.Adam's update, no amsgrad), optionally AdamW with decoupled
 * weight decay: p' = (1 - lr wd) p - (lr / bc1) m' / (sqrt(v') / sqrt(bc2) + eps), in one fused kernel
 * where the backend has it (native) and with the same formula in tfjs ops elsewhere. The moments are
 * variables named like the parameters, so the whole state can be saved and restored exactly (`step`,
 * `m`, `v`).
 */
export class Adam {
  /** number of updates applied */
  step = 0;
  readonly m: Record<string, tf.Variable> = {};
  readonly v: Record<string, tf.Variable> = {};

  constructor(readonly params: Record<string, tf.Variable>, readonly beta1: number, readonly beta2: number, readonly eps: number, readonly weightDecay?: WeightDecay) {
    for (const [name, p] of Object.entries(params)) {
      this.m[name] = tf.variable(tf.zerosLike(p), false, `adam_m_${name}_${p.id}`);
      this.v[name] = tf.variable(tf.zerosLike(p), false, `adam_v_${name}_${p.id}`);
    }
  }

  /**
   * Apply one update with learning rate `lr`; `grads` keyed like params (a missing grad counts as zero).
   * `gradScale` multiplies every gradient first (global-norm clipping: clipFactor).
   */
  apply(grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    for (const name of Object.keys(grads)) if (!(name in this.params)) throw new Error(`Adam: gradient for unknown parameter '${name}'`);
    this.step += 1;
    const bc1 = 1 - Math.pow(this.beta1, this.step);
    const bc2 = 1 - Math.pow(this.beta2, this.step);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.params)) {
        const g = grads[name] ?? tf.zerosLike(p);
        const m = this.m[name];
        const v = this.v[name];
        const wd = this.weightDecay;
        const decay = wd && wd.rate > 0 && wd.applies(name) ? 1 - lr * wd.rate : 1;
        // one pass over p, m, v and g where the backend has the fused kernel (native)
        const fused = fusedAdamUpdate(p, m, v, g, { beta1: this.beta1, beta2: this.beta2, eps: this.eps, stepSize, sqrtBc2, decay, gradScale });
        if (fused) {
          p.assign(fused[0]);
          m.assign(fused[1]);
          v.assign(fused[2]);
          continue;
        }
        const gs = gradScale === 1 ? g : tf.mul(g, gradScale);
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(gs, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(gs), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.eps);
        const kept = decay === 1 ? p : tf.mul(p, decay);
        p.assign(tf.sub(kept, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}
