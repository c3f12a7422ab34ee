/**
 * Edges of a sparse feature circuit between the nodes of consecutive SAE hooks u -> d, as
 * feature-circuits computes them: for each downstream node k (feature or error) kept at some
 * (example, position) by |effect| > nodeThreshold, the scalar sum over those positions of
 * dm/d(node) * node (node = g_k, or sum over width of dm/de * y_res for the error) is pulled back
 * through the model (clean input, u spliced as decode(f) + e, no SAE between u and d) to u's features
 * and error; the edge weight to upstream node j is that gradient times u's patch - clean delta,
 * summed over positions and averaged over examples. Edges from the last hook to the metric are its
 * node effects.
 */
import * as tf from '@tensorflow/tfjs';
import { interruptible } from '../notebook/interrupt';
import { HookFn } from '../model/types';
import { CircuitModel, SAESet, stopLayerAfter, tokensTensor } from './common';
import { AttributionResult } from './attribution';
import { ABLATION_PASS_BYTES } from './ablation';

/** Edge weights from hook `up` to hook `down`: one row per kept downstream node. */
export interface EdgeBlock {
  up: string;
  down: string;
  /** downstream node ids (d_sae of `down` = its error node), in increasing order */
  downNodes: number[];
  /** [downNodes.length, d_sae_up + 1] row-major; column d_sae_up is the upstream error node */
  weights: Float32Array;
  dUp: number;
}

export interface EdgeOptions {
  /** downstream nodes are those with |per-position effect| > nodeThreshold somewhere (default 0.1, as feature-circuits) */
  nodeThreshold?: number;
  /** downstream nodes pulled back in one pass (the batch is tiled this many times; default 32, fewer when [nodes x N, T, d_sae] would exceed ABLATION_PASS_BYTES) */
  nodesPerPass?: number;
  /** the weights' divisor: the examples of the whole attribution when `attr` is one chunk of it (default attr.N) */
  examples?: number;
}

/**
 * Edges between every pair of consecutive SAE hooks of an attribution made with keepTensors
 * (atp or ig: its gradients are dm/d(node), its deltas patch - clean). clean [N][T] token ids.
 */
export async function circuitEdges(model: CircuitModel, saes: SAESet, clean: number[][], attr: AttributionResult, opts: EdgeOptions = {}): Promise<EdgeBlock[]> {
  if (!attr.tensors) throw new Error('circuitEdges needs an attribution made with keepTensors: true (method atp or ig)');
  const out: EdgeBlock[] = [];
  for (let i = 0; i + 1 < attr.hooks.length; i++) out.push(await edgesBetween(model, saes, clean, attr, attr.hooks[i], attr.hooks[i + 1], opts));
  return out;
}

/** Downstream nodes kept somewhere and their [N, T] selection masks, from per-position effects [N, T, D + 1]. */
function keptNodes(effects: Float32Array, N: number, T: number, D1: number, thr: number): Map<number, Float32Array> {
  const kept = new Map<number, Float32Array>();
  for (let nt = 0; nt < N * T; nt++) {
    for (let k = 0; k < D1; k++) {
      if (Math.abs(effects[nt * D1 + k]) > thr) {
        let m = kept.get(k);
        if (!m) kept.set(k, (m = new Float32Array(N * T)));
        m[nt] = 1;
      }
    }
  }
  return new Map([...kept.entries()].sort((a, b) => a[0] - b[0]));
}

/** Edge block u -> d. */
export async function edgesBetween(model: CircuitModel, saes: SAESet, clean: number[][], attr: AttributionResult, up: string, down: string, opts: EdgeOptions = {}): Promise<EdgeBlock> {
  const thr = opts.nodeThreshold ?? 0.1;
  const { N, T } = attr;
  const examples = opts.examples ?? N;
  const saeU = saes.get(up)!;
  const saeD = saes.get(down)!;
  const dU = saeU.cfg.d_sae;
  const dD = saeD.cfg.d_sae;
  // a pass holds several [nodes x N, T, d_sae] tensors (masked gradients, features of both SAEs): bound them
  const fit = Math.max(1, Math.floor(ABLATION_PASS_BYTES / (4 * N * T * Math.max(dU, dD))));
  const per = Math.max(1, Math.min(opts.nodesPerPass ?? 32, fit));
  const tu = attr.tensors!.get(up)!;
  const td = attr.tensors!.get(down)!;
  const kept = keptNodes(attr.byHook.get(down)!.effects, N, T, dD + 1, thr);
  const downNodes = [...kept.keys()];
  const weights = new Float32Array(downNodes.length * (dU + 1));
  const tokens = tokensTensor(clean);
  const stop = stopLayerAfter(model, down);
  const stopPoint = interruptible('circuit edges');
  try {
  for (let s = 0; s < downNodes.length; s += per) {
    await stopPoint(`${up} -> ${down}, ${s} of ${downNodes.length} nodes`);
    const ks = downNodes.slice(s, s + per);
    const K = ks.length;
    // left weights for each block of N rows: dm/dg masked to its node k at its kept positions
    const [leftF, leftE, rows] = tf.tidy(() => {
      const selF = new Float32Array(K * N * T * dD);
      const selE = new Float32Array(K * N * T);
      ks.forEach((k, b) => {
        const m = kept.get(k)!;
        for (let nt = 0; nt < N * T; nt++) {
          if (!m[nt]) continue;
          if (k < dD) selF[(b * N * T + nt) * dD + k] = 1; else selE[b * N * T + nt] = 1;
        }
      });
      const gF = tf.tile(td.gradF, [K, 1, 1]);
      const gE = tf.tile(td.gradE, [K, ...new Array(td.gradE.rank - 1).fill(1)]);
      const mE = tf.reshape(tf.tensor1d(selE), [K * N, T, ...new Array(td.gradE.rank - 2).fill(1)]);
      return [tf.mul(gF, tf.tensor3d(selF, [K * N, T, dD])), tf.mul(gE, mE), tf.tile(tokens, [K, 1])];
    });
    const zF = tf.zeros([K * N, ...tu.deltaF.shape.slice(1)]);
    const zE = tf.zeros([K * N, ...tu.deltaE.shape.slice(1)]);
    const fn = (dF: tf.Tensor, dE: tf.Tensor): tf.Scalar => {
      let total: tf.Scalar | undefined;
      const hooks: Array<[string, HookFn]> = [
        [up, (x) => {
          const f = saeU.encode(x);
          const e = tf.sub(x, saeU.decode(f));
          return tf.add(tf.add(saeU.decode(tf.add(f, dF)), e), dE);
        }],
        [down, (y) => {
          const g = saeD.encode(y);
          const yRes = tf.sub(y, saeD.decode(g));
          total = tf.keep(tf.add(tf.sum(tf.mul(leftF, g)), tf.sum(tf.mul(leftE, yRes))) as tf.Scalar);
        }],
      ];
      const r = model.forward(rows, { fwdHooks: hooks, stopAtLayer: stop, returnType: stop === undefined ? 'logits' : undefined, logitsToKeep: stop === undefined ? 1 : undefined });
      r.logits?.dispose();
      if (!total) throw new Error(`hook ${down} did not run`);
      return total;
    };
    const [gF, gE] = tf.grads(fn)([zF, zE]);
    const block = tf.tidy(() => {
      const perNode = (g: tf.Tensor, delta: tf.Tensor) => tf.reshape(tf.mul(tf.reshape(g, [K, N, ...g.shape.slice(1)]), tf.expandDims(delta, 0)), [K, N, T, -1]);
      const wF = tf.div(tf.sum(perNode(gF, tu.deltaF), [1, 2]), examples); // [K, dU]
      const wE = tf.div(tf.sum(perNode(gE, tu.deltaE), [1, 2, 3]), examples); // [K]
      return tf.concat([wF, tf.expandDims(wE, 1)], 1);
    });
    weights.set(block.dataSync() as Float32Array, s * (dU + 1));
    tf.dispose([leftF, leftE, rows, zF, zE, gF, gE, block]);
  }
  } finally {
    tokens.dispose();
  }
  return { up, down, downNodes, weights, dUp: dU };
}

/**
 * Edge blocks of an attribution made in chunks of pairs (each block from circuitEdges on one chunk with
 * `examples` = all pairs): per block, the union of the kept downstream nodes (increasing) and the sum of
 * the chunks' weights (a node not kept in a chunk adds nothing there). One chunk's blocks are returned as they are.
 */
export function mergeEdgeBlocks(chunks: EdgeBlock[][]): EdgeBlock[] {
  if (chunks.length === 1) return chunks[0];
  if (!chunks.length) return [];
  return chunks[0].map((first, i) => {
    const parts = chunks.map((c) => c[i]);
    for (const b of parts) if (b.up !== first.up || b.down !== first.down) throw new Error(`edge blocks differ between chunks: ${b.up} -> ${b.down} vs ${first.up} -> ${first.down}`);
    const W = first.dUp + 1;
    const downNodes = [...new Set(parts.flatMap((b) => b.downNodes))].sort((a, b) => a - b);
    const row = new Map(downNodes.map((k, r) => [k, r]));
    const weights = new Float32Array(downNodes.length * W);
    for (const b of parts) {
      b.downNodes.forEach((k, r) => {
        const at = row.get(k)! * W;
        for (let j = 0; j < W; j++) weights[at + j] += b.weights[r * W + j];
      });
    }
    return { up: first.up, down: first.down, downNodes, weights, dUp: first.dUp };
  });
}
