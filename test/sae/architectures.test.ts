/**
 * Each architecture and normalisation on tiny SAEs, against values worked out by hand
 * (the arithmetic is in the comments).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { SAE, SAEConfig } from '../../lib/sae';
import { setupBackend, assertClose } from '../helpers';

before(setupBackend);

const HOOK = { hook_name: 'blocks.0.hook_resid_pre' };
// shared tiny weights, d_in 2, d_sae 3
const W_ENC = [[1, 0, 1], [0, 1, -1]];
const W_DEC = [[1, 0], [0, 2], [1, 1]];
const B_ENC = [0.5, -1, 0];
const B_DEC = [1, -1];

function make(cfg: Partial<SAEConfig>, extra: Record<string, number[]> = {}, base: Record<string, number[] | number[][]> = { W_enc: W_ENC, W_dec: W_DEC, b_enc: B_ENC, b_dec: B_DEC }): SAE {
  const w: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries({ ...base, ...extra })) w[k] = tf.tensor(v as number[]);
  const sae = SAE.create({ d_in: 2, d_sae: 3, metadata: HOOK, ...cfg }, w);
  Object.values(w).forEach((t) => t.dispose());
  return sae;
}

async function enc(sae: SAE, x: number[][]): Promise<Float32Array> {
  const t = tf.tensor2d(x);
  const f = sae.encode(t);
  const d = (await f.data()) as Float32Array;
  t.dispose();
  f.dispose();
  return d;
}

async function fwd(sae: SAE, x: number[][] | number[][][]): Promise<Float32Array> {
  const t = tf.tensor(x);
  const y = sae.forward(t);
  assert.deepStrictEqual(y.shape, t.shape);
  const d = (await y.data()) as Float32Array;
  t.dispose();
  y.dispose();
  return d;
}

test('standard: relu((x - b_dec) W_enc + b_enc), decode f W_dec + b_dec', async () => {
  const sae = make({});
  // x=[3,1]: x~=[2,2], pre=[2.5, 1, 0] -> f=[2.5,1,0]; out = 2.5*[1,0] + 1*[0,2] + [1,-1] = [3.5, 1]
  // x=[0,3]: x~=[-1,4], pre=[-0.5, 3, -5] -> f=[0,3,0]; out = [0,6] + [1,-1] = [1, 5]
  assertClose(await enc(sae, [[3, 1], [0, 3]]), [2.5, 1, 0, 0, 3, 0]);
  assertClose(await fwd(sae, [[3, 1], [0, 3]]), [3.5, 1, 1, 5]);
  // decode after encode equals forward
  const x = tf.tensor2d([[3, 1]]);
  const f = sae.encode(x);
  assertClose(await sae.decode(f).data(), [3.5, 1]);
  // error term x - x^ = [3,1] - [3.5,1]
  assertClose(await sae.errorTerm(x).data(), [-0.5, 0]);
  sae.dispose();
});

test('apply_b_dec_to_input false: the encoder sees x itself', async () => {
  const sae = make({ apply_b_dec_to_input: false });
  // x=[3,1]: pre = [3.5, 0, 2] -> f=[3.5,0,2]; out = [3.5,0] + [2,2] + [1,-1] = [6.5, 1]
  assertClose(await enc(sae, [[3, 1]]), [3.5, 0, 2]);
  assertClose(await fwd(sae, [[3, 1]]), [6.5, 1]);
  sae.dispose();
});

test('leading dimensions are kept: [batch, pos, d_in] -> [batch, pos, d_sae]', async () => {
  const sae = make({});
  const x = tf.tensor3d([[[3, 1], [0, 3]]]);
  const f = sae.encode(x);
  assert.deepStrictEqual(f.shape, [1, 2, 3]);
  assertClose(await f.data(), [2.5, 1, 0, 0, 3, 0]);
  sae.dispose();
});

test('jumprelu: relu(pre) * (pre > threshold), strict, relu even for negative thresholds', async () => {
  const sae = make({ architecture: 'jumprelu' }, { threshold: [2.5, 0.5, -10] });
  // x=[3,1]: pre=[2.5,1,0]: 2.5>2.5 no, 1>0.5 yes, 0>-10 yes but relu(0)=0 -> f=[0,1,0]; out=[0,2]+[1,-1]=[1,1]
  // x=[0,3]: pre=[-0.5,3,-5]: -0.5>2.5 no, 3>0.5 yes, -5>-10 yes but relu(-5)=0 -> f=[0,3,0]; out=[1,5]
  assertClose(await enc(sae, [[3, 1], [0, 3]]), [0, 1, 0, 0, 3, 0]);
  assertClose(await fwd(sae, [[3, 1], [0, 3]]), [1, 1, 1, 5]);
  sae.dispose();
});

test('gated: [x~W_enc + b_gate > 0] * relu(x~(W_enc*exp(r_mag)) + b_mag)', async () => {
  const sae = make({ architecture: 'gated' }, { b_gate: [0, -2, 0], r_mag: [0, Math.log(2), 0], b_mag: [1, 0, -1] },
    { W_enc: W_ENC, W_dec: W_DEC, b_dec: B_DEC });
  // x=[3,1]: x~=[2,2]; gate = [2, 2-2=0, 0] -> [1,0,0]; W_mag = [[1,0,1],[0,2,-1]], x~W_mag=[2,4,0] + b_mag = [3,4,-1] -> relu [3,4,0]
  //   f = [3,0,0]; out = [3,0] + [1,-1] = [4,-1]
  // x=[0,3]: x~=[-1,4]; gate = [-1, 2, -5] -> [0,1,0]; x~W_mag = [-1,8,-5] + b_mag = [0,8,-6] -> [0,8,0]
  //   f = [0,8,0]; out = [0,16] + [1,-1] = [1,15]
  assertClose(await enc(sae, [[3, 1], [0, 3]]), [3, 0, 0, 0, 8, 0]);
  assertClose(await fwd(sae, [[3, 1], [0, 3]]), [4, -1, 1, 15]);
  sae.dispose();
});

test('topk: keeps the k largest pre-activations, relu on kept values', async () => {
  const sae = make({ architecture: 'topk', k: 2 });
  // x=[3,1]: pre=[2.5,1,0] -> top2 {2.5,1} -> f=[2.5,1,0]; out=[3.5,1]
  // x=[0,3]: pre=[-0.5,3,-5] -> top2 {3,-0.5} -> relu -> f=[0,3,0]; out=[1,5]
  assertClose(await enc(sae, [[3, 1], [0, 3]]), [2.5, 1, 0, 0, 3, 0]);
  assertClose(await fwd(sae, [[3, 1], [0, 3]]), [3.5, 1, 1, 5]);
  sae.dispose();
  const k1 = make({ architecture: 'topk', k: 1 });
  // x=[3.5,2]: x~=[2.5,3], pre=[3, 2, -0.5] -> top1 feature 0 -> f=[3,0,0]; out=[3,0]+[1,-1]=[4,-1]
  assertClose(await enc(k1, [[3.5, 2]]), [3, 0, 0]);
  assertClose(await fwd(k1, [[3.5, 2]]), [4, -1]);
  k1.dispose();
});

test('topk with rescale_acts_by_decoder_norm: choose on pre * |W_dec_i|, decode divides by the norm', async () => {
  const sae = make({ architecture: 'topk', k: 1, rescale_acts_by_decoder_norm: true });
  // |W_dec rows| = [1, 2, sqrt2]; x=[3.5,2]: pre=[3,2,-0.5] * norms = [3, 4, -0.7071] -> top1 feature 1 with 4
  // decode: 4 / 2 = 2 -> 2*[0,2] = [0,4] + [1,-1] = [1,3]
  assertClose(await enc(sae, [[3.5, 2]]), [0, 4, 0]);
  assertClose(await fwd(sae, [[3.5, 2]]), [1, 3]);
  sae.dispose();
});

test('constant_norm_rescale: x * sqrt(d_in)/|x| before encoding, divided back out after decoding', async () => {
  const sae = make({}, {}, { W_enc: W_ENC, W_dec: [[2, 0], [0, 1], [1, 1]], b_enc: [0, 0, 0], b_dec: [0.5, 0] });
  // x=[3,4], |x|=5, c=sqrt2/5: xn=[0.84852814, 1.13137085]; x~ = xn - [0.5,0] = [0.34852814, 1.13137085]
  // pre = [0.34852814, 1.13137085, -0.78284271] -> f = [0.34852814, 1.13137085, 0]
  // y = [0.69705627, 1.13137085] + [0.5, 0] = [1.19705627, 1.13137085]; / c -> [6 - 2.5/sqrt2, 4] = [4.23223305, 4]
  const s = make({ normalize_activations: 'constant_norm_rescale' }, {}, { W_enc: W_ENC, W_dec: [[2, 0], [0, 1], [1, 1]], b_enc: [0, 0, 0], b_dec: [0.5, 0] });
  assertClose(await enc(s, [[3, 4]]), [0.34852814, 1.13137085, 0]);
  assertClose(await fwd(s, [[3, 4]]), [4.23223305, 4]);
  // encode then decode uses the remembered norm, as SAELens
  const x = tf.tensor2d([[3, 4]]);
  const f = s.encode(x);
  assertClose(await s.decode(f).data(), [4.23223305, 4]);
  sae.dispose();
  s.dispose();
  // decode without a preceding encode cannot know the norm
  const fresh = make({ normalize_activations: 'constant_norm_rescale' });
  assert.throws(() => fresh.decode(tf.zeros([1, 3])), /needs the norm of the input/);
  fresh.dispose();
});

test('layer_norm: (x - mean) / (unbiased std + 1e-5), de-normalised as y * std + mean', async () => {
  const w = { W_enc: [[1, 0], [0, 1], [1, -1]], W_dec: [[1, 0, 0], [0, 1, 1]], b_enc: [0, 0], b_dec: [0, 0, 0] };
  const t: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(w)) t[k] = tf.tensor(v as number[]);
  const sae = SAE.create({ d_in: 3, d_sae: 2, metadata: HOOK, normalize_activations: 'layer_norm' }, t);
  // x=[1,2,6]: mean 3, centred [-2,-1,3], sum sq 14, unbiased var 7, std sqrt7 = 2.64575131, s = std+1e-5 = 2.64576131
  // xn = [-0.75592609, -0.37796304, 1.13388913]; pre = [xn0+xn2, xn1-xn2] = [0.37796304, -1.51185217] -> f=[0.37796304, 0]
  // y = [0.37796304, 0, 0] * std + 3 = [0.37796304*2.64575131 + 3, 3, 3] = [3.99999622, 3, 3]
  const x = tf.tensor2d([[1, 2, 6]]);
  assertClose(await sae.encode(x).data(), [0.37796304, 0], 1e-6);
  assertClose(await sae.forward(x).data(), [3.99999622, 3, 3], 1e-5);
  sae.dispose();
});

test('expected_average_only_in is the identity at run time (a loaded folder does not fold anything)', async () => {
  const a = make({ normalize_activations: 'expected_average_only_in' });
  assertClose(await fwd(a, [[3, 1], [0, 3]]), [3.5, 1, 1, 5]);
  a.dispose();
});

test('foldActivationNormScalingFactor(s): W_enc*s, W_dec/s, b_dec/s, i.e. the SAE of s*x scaled back', async () => {
  const sae = make({ normalize_activations: 'expected_average_only_in' });
  sae.foldActivationNormScalingFactor(2);
  assert.strictEqual(sae.cfg.normalize_activations, 'none');
  // x=[1.5,0.5]: b_dec'=[0.5,-0.5], x~=[1,1]; pre = [1,1] @ 2W_enc + b_enc = [2,2,0] + [0.5,-1,0] = [2.5,1,0]
  // out = (2.5*[1,0] + 1*[0,2]) / 2 + [0.5,-0.5] = [1.25,1] + [0.5,-0.5] = [1.75, 0.5]
  assertClose(await enc(sae, [[1.5, 0.5]]), [2.5, 1, 0]);
  assertClose(await fwd(sae, [[1.5, 0.5]]), [1.75, 0.5]);
  sae.dispose();
});

test('foldWDecNorm: unit decoder rows, features scaled by the norms, reconstruction unchanged', async () => {
  const sae = make({ architecture: 'jumprelu' }, { threshold: [0, 0.5, 0] });
  sae.foldWDecNorm();
  // norms [1, 2, sqrt2]; x=[3,1]: pre before = [2.5,1,0], thr [0,0.5,0] -> f before [2.5,1,0]; after: f*norms = [2.5,2,0]
  assertClose(await enc(sae, [[3, 1]]), [2.5, 2, 0]);
  assertClose(await fwd(sae, [[3, 1]]), [3.5, 1]);
  assertClose(await sae.weights.W_dec.data(), [1, 0, 0, 1, Math.SQRT1_2, Math.SQRT1_2]);
  assertClose(await sae.weights.threshold.data(), [0, 1, 0]);
  sae.dispose();
  const topk = make({ architecture: 'topk', k: 1 });
  assert.throws(() => topk.foldWDecNorm(), /rescale_acts_by_decoder_norm/);
  topk.dispose();
});

test('hook_z: [..., n_heads, d_head] flattened to d_in and the output reshaped back', async () => {
  const t: Record<string, tf.Tensor> = {
    W_enc: tf.tensor2d([[1, 0], [0, 0], [0, 1], [0, 0]]), W_dec: tf.tensor2d([[1, 0, 0, 0], [0, 0, 1, 0]]),
    b_enc: tf.zeros([2]), b_dec: tf.zeros([4]),
  };
  const sae = SAE.create({ d_in: 4, d_sae: 2, reshape_activations: 'hook_z', metadata: { hook_name: 'blocks.0.attn.hook_z' } }, t);
  // z = [[1,2],[3,4]] (2 heads x d_head 2) -> [1,2,3,4] -> f = [1,3] -> out [1,0,3,0] -> [[1,0],[3,0]]
  const z = tf.tensor4d([[[[1, 2], [3, 4]]]]);
  const f = sae.encode(z);
  assert.deepStrictEqual(f.shape, [1, 1, 2]);
  assertClose(await f.data(), [1, 3]);
  const d = sae.decode(f);
  assert.deepStrictEqual(d.shape, [1, 1, 2, 2]);
  assertClose(await fwd(sae, [[[1, 2], [3, 4]]] as unknown as number[][][]), [1, 0, 3, 0]);
  sae.dispose();
});

test('errors name the problem: missing tensors (listing found), wrong shape, unknown architecture, width mismatch', () => {
  const w = { W_enc: tf.zeros([2, 3]), W_dec: tf.zeros([3, 2]), b_dec: tf.zeros([2]) };
  assert.throws(() => SAE.create({ d_in: 2, d_sae: 3, metadata: HOOK }, w), /missing tensors b_enc; found W_enc, W_dec, b_dec/);
  assert.throws(() => SAE.create({ d_in: 2, d_sae: 3, metadata: HOOK, architecture: 'jumprelu' }, { ...w, b_enc: tf.zeros([3]) }), /missing tensors threshold/);
  assert.throws(() => SAE.create({ d_in: 2, d_sae: 3, metadata: HOOK }, { ...w, b_enc: tf.zeros([4]) }), /b_enc has shape \[4\], expected \[3\]/);
  assert.throws(() => SAE.create({ d_in: 2, d_sae: 3, metadata: HOOK, architecture: 'batchtopk' as never }, { ...w, b_enc: tf.zeros([3]) }), /unknown architecture "batchtopk"/);
  const sae = SAE.create({ d_in: 2, d_sae: 3, metadata: HOOK }, { ...w, b_enc: tf.zeros([3]) });
  assert.throws(() => sae.encode(tf.zeros([4, 5])), /input width 5 .* does not match the SAE's d_in=2/);
  sae.dispose();
});

test('topk selection: the host heap and tf.topk agree, and both match a sort', async () => {
  const { topkRowsHost, topkActivationTf } = await import('../../lib/sae/architectures');
  const n = 7, d = 50, k = 5;
  // distinct values: a permutation scaled and shifted so some rows are mostly negative
  const data = new Float32Array(n * d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) data[r * d + j] = ((j * 17 + r * 7) % d) / 10 - r;
  const host = topkRowsHost(data, n, d, k);
  const viaTf = await topkActivationTf(tf.tensor2d(data, [n, d]), k).data();
  assertClose(viaTf, host, 0, 0);
  for (let r = 0; r < n; r++) {
    const row = Array.from(data.subarray(r * d, (r + 1) * d));
    const kth = [...row].sort((a, b) => b - a)[k - 1];
    const want = row.map((v) => (v >= kth ? Math.max(v, 0) : 0));
    assertClose(host.subarray(r * d, (r + 1) * d), want, 0, 0, `row ${r}`);
  }
});

test('no tensors leak from encode, decode, forward, run and errorTerm', () => {
  for (const arch of ['standard', 'jumprelu', 'gated', 'topk'] as const) {
    for (const norm of ['none', 'constant_norm_rescale', 'layer_norm'] as const) {
      const extra: Record<string, number[]> = arch === 'jumprelu' ? { threshold: [0, 0, 0] } : {};
      const base = arch === 'gated' ? { W_enc: W_ENC, W_dec: W_DEC, b_dec: B_DEC, b_gate: [0, 0, 0], b_mag: [0, 0, 0], r_mag: [0, 0, 0] } : undefined;
      const sae = make({ architecture: arch, k: arch === 'topk' ? 2 : undefined, normalize_activations: norm }, extra, base);
      const x = tf.tensor2d([[3, 1], [0, 3]]);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const f = sae.encode(x);
        tf.dispose([f, sae.decode(f), sae.forward(x), sae.errorTerm(x)]);
        const r = sae.run(x, { withError: true, editFeatures: (g) => tf.mul(g, 2) });
        tf.dispose([r.featureActs, r.saeOut, r.error!]);
      }
      // the SAE keeps the last encode's normalisation state (one or two tensors) for decode()
      const kept = norm === 'layer_norm' ? 2 : norm === 'constant_norm_rescale' ? 1 : 0;
      assert.strictEqual(tf.memory().numTensors - before, kept, `${arch}/${norm}`);
      x.dispose();
      sae.dispose();
    }
  }
});
