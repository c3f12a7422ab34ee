import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate } from '../backend/fusedOps';

/** AdamW state for one parameter. */
interface Moments { m: tf.Variable; v: tf.Variable }

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) on tf.Variables, with global-norm gradient
 * clipping. Its state (moments, step) can be read and restored, so training can resume exactly.
 */
export class AdamW {
  step = 0;
  private readonly moments = new Map<string, Moments>();

  constructor(readonly opts: { beta1: number; beta2: number; eps: number; weightDecay: number; clipNorm: number | null }) {}

  /** Apply one update with learning rate lr. `decay(name)` says which parameters get weight decay. Returns the pre-clip gradient norm. */
  apply(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number, decay: (name: string) => boolean): number {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.opts;
    const names = Object.keys(grads);
    const norm = tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]))))).dataSync()[0]);
    const scale = clipNorm !== null && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    for (const name of names) {
      const p = params.get(name);
      if (!p) throw new Error(`AdamW: gradient for unknown parameter '${name}'`);
      let mom = this.moments.get(name);
      if (!mom) {
        mom = { m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) };
        this.moments.set(name, mom);
      }
      const { m, v } = mom;
      tf.tidy(() => {
        // one pass over p, m, v and the gradient where the backend has the fused kernel (native)
        const decayFactor = decay(name) && weightDecay > 0 ? 1 - lr * weightDecay : 1;
        const fused = fusedAdamUpdate(p, m, v, grads[name], { beta1, beta2, eps, stepSize: lr / bc1, sqrtBc2: Math.sqrt(bc2), decay: decayFactor, gradScale: scale });
        if (fused) {
          p.assign(fused[0]);
          m.assign(fused[1]);
          v.assign(fused[2]);
          return;
        }
        const g = scale === 1 ? grads[name] : tf.mul(grads[name], scale);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        const wd = decay(name) && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(wd, tf.mul(update, lr)));
      });
    }
    return norm;
  }

  /** Moments as plain tensors by name (`<param>.m`, `<param>.v`), for checkpoints. */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [k, { m, v }] of this.moments) { out[`${k}.m`] = m; out[`${k}.v`] = v; }
    return out;
  }

  /** Restore moments and step from stateTensors() output. */
  loadState(step: number, tensors: Record<string, tf.Tensor>): void {
    this.dispose();
    this.step = step;
    for (const key of Object.keys(tensors)) {
      if (!key.endsWith('.m')) continue;
      const name = key.slice(0, -2);
      const v = tensors[`${name}.v`];
      if (!v) throw new Error(`AdamW state: '${key}' has no matching '${name}.v'`);
      this.moments.set(name, { m: tf.variable(tensors[key].clone(), false), v: tf.variable(v.clone(), false) });
    }
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) { m.dispose(); v.dispose(); }
    this.moments.clear();
  }
}

/** Learning rate at `step` (1-based): linear warm-up, then cosine decay to minFactor x lr. */
export function cosineWithWarmup(step: number, total: number, lr: number, warmup: number, minFactor = 0.1): number {
  if (warmup > 0 && step <= warmup) return (lr * step) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return lr * (minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * t)));
}
