import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate } from '../backend/fusedOps';

/**
 * Adam on tf.Variables with its moments kept as tensors, so the whole optimizer state can be
 * saved and restored exactly (torch.optim.Adam's update, no weight decay, no amsgrad).
 */
export class Adam {
  /** number of updates applied */
  step = 0;
  readonly m: Record<string, tf.Variable> = {};
  readonly v: Record<string, tf.Variable> = {};

  constructor(readonly params: Record<string, tf.Variable>, readonly beta1: number, readonly beta2: number, readonly eps: number) {
    for (const [name, p] of Object.entries(params)) {
      this.m[name] = tf.variable(tf.zerosLike(p), false, `adam_m_${name}_${p.id}`);
      this.v[name] = tf.variable(tf.zerosLike(p), false, `adam_v_${name}_${p.id}`);
    }
  }

  /** Apply one update with learning rate `lr`; `grads` keyed like params (a missing grad counts as zero). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
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
        // one pass over p, m, v and g where the backend has the fused kernel (native)
        const fused = fusedAdamUpdate(p, m, v, g, { beta1: this.beta1, beta2: this.beta2, eps: this.eps, stepSize, sqrtBc2 });
        if (fused) {
          p.assign(fused[0]);
          m.assign(fused[1]);
          v.assign(fused[2]);
          continue;
        }
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}
