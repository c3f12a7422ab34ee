import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../lib/model';
import { HookedTransformerConfigInput } from '../lib/model/config';
import { bf16Linear, bf16MatmulStats, bf16MatmulSupport } from '../lib/backend/bf16';
import { packValues, widen } from '../lib/model/weights';

/**
 * `npm run bench -- bf16`: the oneDNN bfloat16 GEMM (computeDtype 'bfloat16') against float32 sgemm, and a model
 * forward in bfloat16 compute against float32 compute, on the same bfloat16 weights.
 *
 * GEMM rows, at GPT-2-small / Gemma-2b / Mistral-7B matmul shapes [M tokens, K] x [K, N]:
 *   bf16      bf16Linear: activations rounded to bfloat16, the weight's stored bits, float32 out
 *   f32       tf.matMul on a float32 copy of the same weights (OpenBLAS sgemm: a float32 model's cost)
 *   f32+widen widen the bfloat16 weight to float32, then sgemm (what a bfloat16 model computing in float32 pays)
 * and the bf16 result's error against the f32 product: max |diff| / max |f32| and mean |diff| / mean |f32|.
 * With torch installed (/usr/bin/python3 or SAELAB_BENCH_PYTHON), torch.matmul float32 and bfloat16 at the
 * same shapes (bench/torch/bf16.py; torch's bf16 result is bfloat16).
 * Forward rows: GPT-2 small (12 layers, 8 x 128 tokens) and a Gemma-2b-shaped model (SAELAB_BENCH_GEMMA_LAYERS
 * of its 18 layers, default 2; full 256,000 vocabulary; 4 x 128 tokens), random weights kept in bfloat16:
 * median forward time (logits) per compute dtype, and the logits' max / mean |bf16 - f32|.
 * SAELAB_BENCH_REPS (default 3) timed runs after one warm-up; SAELAB_BENCH_BF16=gemm,gpt2,gemma (default all) picks
 * the parts (the Gemma row needs ~7 GB while its float32 random weights are made).
 */
export async function run(): Promise<void> {
  const support = bf16MatmulSupport();
  if (!support.ok) {
    console.log(`bf16: skipped: ${support.reason}`);
    return;
  }
  const reps = Number(process.env.SAELAB_BENCH_REPS ?? 3);
  const parts = (process.env.SAELAB_BENCH_BF16 ?? 'gemm,gpt2,gemma').split(',');
  console.log(`oneDNN ${support.version}; ${reps} timed runs after a warm-up, medians`);
  if (parts.includes('gemm')) gemmRows(reps);
  if (parts.includes('gpt2')) {
    forwardRow('gpt2-small', { n_layers: 12, d_model: 768, d_head: 64, n_heads: 12, d_mlp: 3072, d_vocab: 50257, n_ctx: 1024, act_fn: 'gelu_new' }, 8, 128, reps);
    torchGpt2Row(reps);
  }
  if (parts.includes('gemma')) {
    const gl = Number(process.env.SAELAB_BENCH_GEMMA_LAYERS ?? 2);
    forwardRow(`gemma-2b-shaped (${gl} of 18 layers)`, {
      n_layers: gl, d_model: 2048, d_head: 256, n_heads: 8, n_key_value_heads: 1, d_mlp: 16384, d_vocab: 256000, n_ctx: 8192,
      act_fn: 'gelu_pytorch_tanh', normalization_type: 'RMS', positional_embedding_type: 'rotary', rotary_dim: 256, gated_mlp: true,
    } as HookedTransformerConfigInput, 4, 128, reps);
  }
}

const SHAPES: Array<[string, number, number, number]> = [
  ['gpt2 attn W_Q', 1024, 768, 768],
  ['gpt2 mlp W_in', 1024, 768, 3072],
  ['gpt2 mlp W_out', 1024, 3072, 768],
  ['gpt2 unembed', 1024, 768, 50257],
  ['gemma-2b mlp W_gate', 512, 2048, 16384],
  ['gemma-2b mlp W_out', 512, 16384, 2048],
  ['mistral-7b attn W_Q', 512, 4096, 4096],
  ['mistral-7b mlp W_in', 512, 4096, 14336],
  ['mistral-7b mlp W_out', 512, 14336, 4096],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median ms of fn over reps runs after one warm-up. */
function timeMs(fn: () => void, reps: number): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function errorsOf(a: ArrayLike<number>, ref: ArrayLike<number>): { maxRel: number; meanRel: number; max: number; mean: number } {
  let max = 0, sum = 0, scale = 0, sumRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(a[i] - ref[i]);
    max = Math.max(max, d);
    sum += d;
    scale = Math.max(scale, Math.abs(ref[i]));
    sumRef += Math.abs(ref[i]);
  }
  return { maxRel: max / scale, meanRel: sum / sumRef, max, mean: sum / ref.length };
}

function torchRows(): Map<string, { f32: number; bf16: number }> | string {
  const py = process.env.SAELAB_BENCH_PYTHON ?? '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return `torch not importable by ${py}`;
  const shapes = SHAPES.map(([, m, k, n]) => `${m},${k},${n}`).join(';');
  const reps = process.env.SAELAB_BENCH_REPS ?? '3';
  const r = spawnSync(py, [path.join(__dirname, '..', '..', 'bench', 'torch', 'bf16.py'), '--shapes', shapes, '--reps', reps], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return `bench/torch/bf16.py failed: ${r.stderr.trim().split('\n').pop()}`;
  const out = new Map<string, { f32: number; bf16: number }>();
  for (const line of r.stdout.trim().split('\n')) {
    const j = JSON.parse(line) as { shape: number[]; f32_ms: number; bf16_ms: number };
    out.set(j.shape.join(), { f32: j.f32_ms, bf16: j.bf16_ms });
  }
  return out;
}

/** torch's GPT-2-small forward (bench/torch/workloads.py) in float32 and with the model in bfloat16. */
function torchGpt2Row(reps: number): void {
  const py = process.env.SAELAB_BENCH_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(py, [path.join(__dirname, '..', '..', 'bench', 'torch', 'workloads.py'), '--workloads', 'gpt2,gpt2-bf16', '--reps', String(reps)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.log(`  torch: not run (${(r.stderr || 'torch missing').trim().split('\n').pop()})`);
    return;
  }
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { workload: string; ms: number; tokens: number });
  for (const row of rows) console.log(`  torch ${row.workload === 'gpt2' ? 'float32' : 'bfloat16 (model.to(bfloat16))'}: ${(row.ms / 1000).toFixed(2)} s  ${(row.tokens / (row.ms / 1000)).toFixed(0)} tokens/s`);
}

function gemmRows(reps: number): void {
  console.log('\nGEMM [M, K] x [K, N]: ms (GFLOP/s); error of bf16 against the f32 product of the same (bfloat16) weights');
  console.log('| shape | M x K x N | bf16 | f32 sgemm | f32 + widen | bf16 speed-up vs f32 / vs f32+widen | max err / max | mean err / mean | torch f32 | torch bf16 |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const torch = torchRows();
  for (const [label, M, K, N] of SHAPES) {
    const gf = (2 * M * K * N) / 1e9;
    const xv = tf.randomNormal([M, K], 0, 1, 'float32', 7);
    const wv = tf.randomNormal([K, N], 0, 0.02, 'float32', 8);
    const packed = { shape: [K, N], dtype: 'bfloat16' as const, bits: packValues(wv.dataSync() as Float32Array, 'bfloat16') };
    wv.dispose();
    const w32 = widen(packed) as tf.Tensor2D;
    const x = xv as tf.Tensor2D;
    const bf = timeMs(() => bf16Linear(x, packed).dispose(), reps);
    const f32 = timeMs(() => tf.matMul(x, w32).dispose(), reps);
    const f32w = timeMs(() => { const w = widen(packed) as tf.Tensor2D; tf.matMul(x, w).dispose(); w.dispose(); }, reps);
    const yb = bf16Linear(x, packed);
    const yf = tf.matMul(x, w32);
    const e = errorsOf(yb.dataSync(), yf.dataSync());
    tf.dispose([yb, yf, x, w32]);
    const t = typeof torch === 'string' ? undefined : torch.get(`${M},${K},${N}`);
    const cell = (ms: number) => `${ms.toFixed(1)} (${(gf / (ms / 1000)).toFixed(0)})`;
    console.log(`| ${label} | ${M}x${K}x${N} | ${cell(bf)} | ${cell(f32)} | ${cell(f32w)} | ${(f32 / bf).toFixed(2)}x / ${(f32w / bf).toFixed(2)}x | ${e.maxRel.toExponential(1)} | ${e.meanRel.toExponential(1)} | ${t ? cell(t.f32) : '-'} | ${t ? cell(t.bf16) : '-'} |`);
  }
  if (typeof torch === 'string') console.log(`torch columns: ${torch}`);
  console.log(`oneDNN implementation: ${bf16MatmulStats().impl}`);
}

function forwardRow(label: string, cfg: HookedTransformerConfigInput, B: number, P: number, reps: number): void {
  const model = HookedTransformer.fromConfig(cfg, { seed: 0 });
  model.castWeights('bfloat16');
  const V = model.cfg.d_vocab;
  const tokens = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform([B, P], 0, 1, 'float32', 1), V)), 'int32')) as tf.Tensor2D;
  const pass = () => { const y = model.forward(tokens).logits!; y.dataSync(); return y; };
  const times: Record<string, number> = {};
  const logits: Record<string, Float32Array> = {};
  for (const c of ['float32', 'bfloat16'] as const) {
    model.computeDtype = c;
    const y = pass();
    logits[c] = y.dataSync() as Float32Array;
    y.dispose();
    times[c] = timeMs(() => pass().dispose(), reps) / 1000;
  }
  model.computeDtype = 'float32';
  const e = errorsOf(logits.bfloat16, logits.float32);
  let scale = 0;
  for (const v of logits.float32) scale = Math.max(scale, Math.abs(v));
  const n = B * P;
  console.log(`\nforward ${label}, weights bfloat16 (${(model.weightBytes() / 2 ** 30).toFixed(2)} GiB), ${B} x ${P} tokens, logits:`);
  console.log(`  compute float32:  ${times.float32.toFixed(2)} s  ${(n / times.float32).toFixed(0)} tokens/s`);
  console.log(`  compute bfloat16: ${times.bfloat16.toFixed(2)} s  ${(n / times.bfloat16).toFixed(0)} tokens/s  (${(times.float32 / times.bfloat16).toFixed(2)}x)`);
  console.log(`  logits |bf16 - f32|: max ${e.max.toExponential(2)}, mean ${e.mean.toExponential(2)} (largest |logit| ${scale.toFixed(2)}; max/largest ${(e.max / scale).toExponential(1)}, mean/mean ${e.meanRel.toExponential(1)})`);
  tokens.dispose();
  model.dispose();
}
